-- AppKeys mint client login tokens and sign callbacks: sealed at rest like AccessKey secrets
-- (AES-256-GCM under a configured key named by app_key_key_id, with "app:<app_id>" as the
-- associated data). The plaintext column is kept only for apps created before this migration;
-- `livemsg-admin reencrypt-secrets` seals and empties it.
ALTER TABLE apps
    ALTER COLUMN app_key DROP NOT NULL,
    ADD COLUMN app_key_key_id TEXT,
    ADD COLUMN app_key_ciphertext BYTEA,
    ADD CONSTRAINT apps_app_key_present
        CHECK (app_key IS NOT NULL OR (app_key_ciphertext IS NOT NULL AND app_key_key_id IS NOT NULL));
