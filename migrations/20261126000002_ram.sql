-- RAM users, policies and their attachments; AccessKeys owned by RAM users; AccessKey secrets
-- encrypted at rest (AES-256-GCM under a configured key named by secret_key_id).

CREATE TABLE ram_users (
    ram_user_id  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    user_name    TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (account_id, user_name)
);

CREATE TABLE policies (
    policy_id    BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id   BIGINT NOT NULL REFERENCES accounts (account_id) ON DELETE CASCADE,
    policy_name  TEXT NOT NULL,
    document     TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (account_id, policy_name)
);

CREATE TABLE ram_user_policies (
    ram_user_id  BIGINT NOT NULL REFERENCES ram_users (ram_user_id) ON DELETE CASCADE,
    policy_id    BIGINT NOT NULL REFERENCES policies (policy_id) ON DELETE CASCADE,
    PRIMARY KEY (ram_user_id, policy_id)
);
CREATE INDEX ram_user_policies_policy_idx ON ram_user_policies (policy_id);

-- A key with no RAM user is the account's root key. The plaintext column is kept only for
-- keys written before encryption; `livemsg-admin reencrypt-secrets` empties it.
ALTER TABLE access_keys
    ADD COLUMN ram_user_id BIGINT REFERENCES ram_users (ram_user_id) ON DELETE CASCADE,
    ADD COLUMN secret_key_id TEXT,
    ADD COLUMN secret_ciphertext BYTEA,
    ALTER COLUMN secret DROP NOT NULL,
    ADD CONSTRAINT access_keys_secret_present
        CHECK (secret IS NOT NULL OR (secret_ciphertext IS NOT NULL AND secret_key_id IS NOT NULL));
CREATE INDEX access_keys_ram_user_idx ON access_keys (ram_user_id);
