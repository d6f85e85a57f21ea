"""deploy/kubernetes, checked without a cluster: the documents parse and are complete, several
replicas are possible, and every probe points at an endpoint the real binaries serve."""

import pathlib
import tomllib
import urllib.request

import grpc
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def documents():
    docs = []
    for path in sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def by_kind(kind):
    return [d for d in documents() if d["kind"] == kind]


def container(name):
    [deployment] = [d for d in by_kind("Deployment") if d["metadata"]["name"] == name]
    [c] = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, c


def test_every_piece_is_there():
    kinds = sorted(d["kind"] for d in documents())
    assert kinds == sorted([
        "ConfigMap", "Secret", "Secret", "Secret", "Job", "Deployment", "Service", "Deployment",
        "Service", "Deployment", "Service", "HorizontalPodAutoscaler", "NetworkPolicy",
    ])
    [hpa] = by_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "livemsg-gateway"
    assert hpa["spec"]["minReplicas"] >= 2


def test_deployments_run_several_replicas_as_non_root_with_resources_and_settings():
    secrets = {"livemsg-service": "livemsg-secrets", "livemsg-gateway": "livemsg-gateway-secrets",
               "livemsg-edge": "livemsg-edge-secrets"}
    for name, secret in secrets.items():
        deployment, c = container(name)
        assert deployment["spec"]["replicas"] >= 2
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]
        assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
        refs = {e.get("configMapRef", e.get("secretRef"))["name"] for e in c["envFrom"]}
        assert refs == {"livemsg-config", secret}
        # Room for the drain delay and the grace period of config/production.toml.
        production = tomllib.loads((ROOT / "config" / "production.toml").read_text())
        section = name.removeprefix("livemsg-")
        delay = production[section].get("shutdown_delay_ms", 0) / 1000
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > delay + 25
    # The edge reaches the service as a connection tier.
    edge, _ = container("livemsg-edge")
    assert edge["spec"]["template"]["metadata"]["labels"]["livemsg.io/connection-tier"] == "true"


def test_secrets_stay_in_the_secret():
    [config] = by_kind("ConfigMap")
    for key in config["data"]:
        assert not any(word in key for word in ("PASSWORD", "TOKEN", "KEYS", "REDIS_URL")), key
    secrets = {s["metadata"]["name"]: s["stringData"] for s in by_kind("Secret")}
    service, gateway = secrets["livemsg-secrets"], secrets["livemsg-gateway-secrets"]
    # The edge holds the tier's token, its session secret and Redis.
    assert set(secrets["livemsg-edge-secrets"]) == {
        "LIVEMSG__INTERNAL__TIER_TOKEN", "LIVEMSG__EDGE__SESSION_SECRET", "LIVEMSG__EDGE__REDIS_URL"}
    for role in ("GATEWAY", "TIER", "ADMIN"):
        assert f"LIVEMSG__INTERNAL__{role}_TOKEN" in service
    # The gateway holds its own token and Redis, never the key that seals secrets, another
    # role's token or the database password.
    assert set(gateway) == {"LIVEMSG__INTERNAL__GATEWAY_TOKEN", "LIVEMSG__RATELIMIT__REDIS_URL"}


def test_only_the_gateways_and_the_connection_tier_reach_the_grpc_port():
    [policy] = by_kind("NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "service"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    grpc_rules = [r for r in policy["spec"]["ingress"] if {"port": 50051, "protocol": "TCP"} in r["ports"]]
    [rule] = grpc_rules
    allowed = [p["podSelector"]["matchLabels"] for p in rule["from"]]
    assert {"app.kubernetes.io/part-of": "livemsg", "app.kubernetes.io/component": "gateway"} in allowed
    assert {"livemsg.io/connection-tier": "true"} in allowed
    assert len(allowed) == 2


def listener_setting(component, port):
    """Which listener of config/production.toml a container port is."""
    production = tomllib.loads((ROOT / "config" / "production.toml").read_text())
    for setting in ("listen", "metrics_listen"):
        if production[component][setting].endswith(f":{port}"):
            return setting
    raise AssertionError(f"{component} listens on no port {port}")


def test_every_probe_answers_on_the_real_binaries(make_stack):
    stack = make_stack(edge=True)
    actual = {
        ("edge", "listen"): stack.edge_endpoint,
        ("edge", "metrics_listen"): stack.edge.wait_for_address("metrics.addr"),
        ("gateway", "listen"): stack.endpoint,
        ("gateway", "metrics_listen"): stack.gateway.wait_for_address("metrics.addr"),
        ("service", "listen"): stack.grpc_addr,
        ("service", "metrics_listen"): stack.service.wait_for_address("metrics.addr"),
    }
    probed = 0
    for component in ("service", "gateway", "edge"):
        _, c = container(f"livemsg-{component}")
        for kind in ("readinessProbe", "livenessProbe"):
            probe = c[kind]
            if "httpGet" in probe:
                where = actual[(component, listener_setting(component, probe["httpGet"]["port"]))]
                with urllib.request.urlopen(f"http://{where}{probe['httpGet']['path']}") as r:
                    assert r.status == 200, (component, kind)
            else:
                port = probe["grpc"]["port"]
                where = actual[(component, listener_setting(component, port))]
                check = grpc.insecure_channel(where).unary_unary(
                    "/grpc.health.v1.Health/Check",
                    request_serializer=lambda _: b"",
                    response_deserializer=lambda raw: raw,
                )
                # HealthCheckResponse{status: SERVING}: field 1, varint 1.
                assert check(None, timeout=5) == b"\x08\x01", (component, kind)
            probed += 1
    assert probed == 6
