//! The signature vectors: the documentation's worked examples and captured SDK calls.

use super::*;

#[test]
fn percent_encoding_follows_rfc_3986_with_uppercase_hex() {
    assert_eq!(percent_encode("a b"), "a%20b");
    assert_eq!(percent_encode("*"), "%2A");
    assert_eq!(percent_encode("~-_."), "~-_.");
    assert_eq!(percent_encode("/+:="), "%2F%2B%3A%3D");
    assert_eq!(percent_encode("é"), "%C3%A9");
}

// (a) The official V1 test vector. Source: the Alibaba Cloud documentation of signature V1 for
// RPC APIs ("Request syntax and signature method V2 for RPC APIs",
// https://www.alibabacloud.com/help/en/sdk/product-overview/rpc-mechanism, and the ECS
// signature page https://www.alibabacloud.com/help/doc-detail/28139.htm): DescribeRegions,
// secret `testsecret`, reproduced with the SDK's own `Utils.get_rpcsignature`.
#[test]
fn v1_official_vector() {
    let params = [
        ("AccessKeyId", "testid"),
        ("Action", "DescribeRegions"),
        ("Format", "XML"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureNonce", "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf"),
        ("SignatureVersion", "1.0"),
        ("Timestamp", "2016-02-23T12:46:24Z"),
        ("Version", "2014-05-26"),
    ];
    let sts = v1::string_to_sign("GET", &params);
    assert_eq!(
        sts,
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
    );
    assert_eq!(v1::sign("testsecret", &sts), "OLeaidS1JvxuMvnyHOwuJ+uX5qY=");
}

// (b) tea-openapi with signature_algorithm='v2': `group 1` arrives as `group+1`. Source: a
// captured call of `alibabacloud_live20161101` 3.0.2 (tea-openapi 0.4.6) to a loopback server,
// timestamp, nonce and user agent pinned (shared/reference/alibaba-protocol.md, section 1.1 (b)).
#[test]
fn v1_tea_sdk_list_users_vector() {
    let params = [
        ("Action", "ListLiveMessageGroupUsers"),
        ("Format", "json"),
        ("Version", "2016-11-01"),
        ("Timestamp", "2025-01-15T08:00:00Z"),
        ("SignatureNonce", "3156853299f313e23d1673dc12e1703d"),
        ("AppId", "demoApp"),
        ("DataCenter", "cn-shanghai"),
        ("GroupId", "group 1"),
        ("PageSize", "20"),
        ("SortType", "0"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", "testAccessKeyId"),
    ];
    let sts = v1::string_to_sign("POST", &params);
    assert!(sts.contains("GroupId%3Dgroup%25201"));
    assert_eq!(
        v1::sign("testAccessKeySecret", &sts),
        "G7ezLzsJvxO6Fcfz3eYHYUc9sS4="
    );
}

// (c) tea v2 with a form body: body parameters are signed too. Source: a captured
// GetMessageToken call of the same SDK (alibaba-protocol.md, section 1.1 (c)).
#[test]
fn v1_form_body_vector() {
    let params = [
        ("Action", "GetMessageToken"),
        ("Format", "json"),
        ("Version", "2016-11-01"),
        ("Timestamp", "2025-01-15T08:00:00Z"),
        ("SignatureNonce", "3156853299f313e23d1673dc12e1703d"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", "testAccessKeyId"),
        ("AppId", "demoApp"),
        ("DeviceId", "dev-1"),
        ("DeviceType", "ios"),
        ("UserId", "user*1 ~"),
    ];
    let sts = v1::string_to_sign("POST", &params);
    assert!(sts.contains("UserId%3Duser%252A1%2520~"));
    assert_eq!(
        v1::sign("testAccessKeySecret", &sts),
        "U17oicTDUsfHzxgQ40GutCOVQJ0="
    );
}

// (d) The legacy aliyunsdkcore: RegionId and an empty SignatureType are signed. Source:
// `rpc_signature_composer.get_signed_url` of aliyun-python-sdk-core 2.16.1 with timestamp and
// nonce patched (alibaba-protocol.md, section 1.1 (d)).
#[test]
fn v1_legacy_sdk_vector() {
    let params = [
        ("AppId", "demoApp"),
        ("GroupId", "group 1"),
        ("Version", "2016-11-01"),
        ("Action", "ListLiveMessageGroupUsers"),
        ("Format", "JSON"),
        ("RegionId", "cn-shanghai"),
        ("Timestamp", "2025-01-15T08:00:00Z"),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureType", ""),
        ("SignatureVersion", "1.0"),
        ("SignatureNonce", "3156853299f313e23d1673dc12e1703d"),
        ("AccessKeyId", "testAccessKeyId"),
    ];
    let sts = v1::string_to_sign("POST", &params);
    assert!(sts.contains("SignatureType%3D%26"));
    assert_eq!(
        v1::sign("testAccessKeySecret", &sts),
        "FrFzNwO5pf62ljjSXjZwWqWmC+g="
    );
}

// (e) The official V3 vector: no "&" after the secret. Source: the V3 signature documentation
// (https://www.alibabacloud.com/help/en/sdk/product-overview/v3-request-structure-and-signature),
// its RunInstances example with `YourAccessKeySecret`, reproduced with the SDK's
// `Utils.get_authorization` (alibaba-protocol.md, section 1.2 (e)).
#[test]
fn v3_official_vector() {
    let query = v3::canonical_query(&[
        (
            "ImageId",
            "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd",
        ),
        ("RegionId", "cn-shanghai"),
    ]);
    let empty = sha256_hex(b"");
    let headers = [
        ("host", "ecs.cn-shanghai.aliyuncs.com"),
        ("x-acs-action", "RunInstances"),
        ("x-acs-content-sha256", empty.as_str()),
        ("x-acs-date", "2023-10-26T09:01:01Z"),
        ("x-acs-signature-nonce", "d410180a5abf7fe235dd9b74aca91fc0"),
        ("x-acs-version", "2014-05-26"),
    ];
    let creq = v3::canonical_request("POST", &query, &headers, &empty);
    let sts = v3::string_to_sign(&creq);
    assert_eq!(
        sts,
        "ACS3-HMAC-SHA256\n29622f5feb1e9fcaaa2e276a72889c975f7b16f00e02be1ca34965b18cd85015"
    );
    assert_eq!(
        v3::sign("YourAccessKeySecret", &sts),
        "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804"
    );
}

// (f) The Live SDK's default path. Source: a captured ListLiveMessageGroupUsers call of
// `alibabacloud_live20161101` 3.0.2 with its default ACS3-HMAC-SHA256, timestamp, nonce and user
// agent pinned (alibaba-protocol.md, section 1.2 (f)).
#[test]
fn v3_live_sdk_list_users_vector() {
    let query = v3::canonical_query(&[
        ("AppId", "demoApp"),
        ("DataCenter", "cn-shanghai"),
        ("GroupId", "group 1"),
        ("PageSize", "20"),
        ("SortType", "0"),
    ]);
    assert_eq!(
        query,
        "AppId=demoApp&DataCenter=cn-shanghai&GroupId=group%201&PageSize=20&SortType=0"
    );
    let empty = sha256_hex(b"");
    let headers = [
        ("accept", "application/json"),
        ("host", "live.aliyuncs.com"),
        (
            "user-agent",
            "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        ),
        ("x-acs-action", "ListLiveMessageGroupUsers"),
        ("x-acs-content-sha256", empty.as_str()),
        ("x-acs-credentials-provider", "static_ak"),
        ("x-acs-date", "2025-01-15T08:00:00Z"),
        ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
        ("x-acs-version", "2016-11-01"),
    ];
    let creq = v3::canonical_request("POST", &query, &headers, &empty);
    let sts = v3::string_to_sign(&creq);
    assert_eq!(
        sts,
        "ACS3-HMAC-SHA256\n5b452a65d12100b057c0bfdbf3c181593d281a9ec5cfee9a51361e3ff56068f7"
    );
    assert_eq!(
        v3::sign("testAccessKeySecret", &sts),
        "eac25f0a1501f68294480d544dbe953717081ded096815ee0bf30991f47f53d2"
    );
}

// (g) V3 with a form body: the body is covered by its hash, not the query. Source: a captured
// GetMessageToken call of the same SDK (alibaba-protocol.md, section 1.2 (g)).
#[test]
fn v3_form_body_vector() {
    let body = b"AppId=demoApp&DeviceId=dev-1&DeviceType=ios&UserId=user%2A1+~";
    let hash = sha256_hex(body);
    assert_eq!(
        hash,
        "0bff68994ecd4bbb6ff2e528ee6996bcbc3482e5066c4f49188112405b65b75b"
    );
    let headers = [
        ("accept", "application/json"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("host", "live.aliyuncs.com"),
        (
            "user-agent",
            "AlibabaCloud (Linux; x86_64) Python/3.11.7 Core/0.4.3 TeaDSL/2",
        ),
        ("x-acs-action", "GetMessageToken"),
        ("x-acs-content-sha256", hash.as_str()),
        ("x-acs-credentials-provider", "static_ak"),
        ("x-acs-date", "2025-01-15T08:00:00Z"),
        ("x-acs-signature-nonce", "3156853299f313e23d1673dc12e1703d"),
        ("x-acs-version", "2016-11-01"),
    ];
    let creq = v3::canonical_request("POST", "", &headers, &hash);
    let sts = v3::string_to_sign(&creq);
    assert_eq!(
        sts,
        "ACS3-HMAC-SHA256\n1ed3bda65ad321f0df1f466c346dd3d31b0ff28bf3e5537fbb5a2700c2080566"
    );
    assert_eq!(
        v3::sign("testAccessKeySecret", &sts),
        "83d6bc347f284045658835a70b0e5ac944c53ceec084aee021b596e24dce0c6c"
    );
}

#[test]
fn v3_authorization_header_parses_strictly() {
    let header = "Credential=AK1,SignedHeaders=host;x-acs-date,Signature=ABCDEF01";
    let auth = v3::Authorization::parse(header).unwrap();
    assert_eq!(auth.access_key_id, "AK1");
    assert_eq!(auth.signed_headers, ["host", "x-acs-date"]);
    assert_eq!(auth.signature, "abcdef01");
    assert_eq!(
        auth.header_value(),
        "ACS3-HMAC-SHA256 Credential=AK1,SignedHeaders=host;x-acs-date,Signature=abcdef01"
    );
    for bad in [
        "",
        "Credential=AK1,SignedHeaders=host",
        "Credential=AK1,SignedHeaders=host,Signature=zz",
        "Credential=AK1,Credential=AK2,SignedHeaders=host,Signature=ab",
        "Credential=,SignedHeaders=host,Signature=ab",
        "Credential=AK1,SignedHeaders=host;;x,Signature=ab",
        "Credential=AK1,SignedHeaders=host,Signature=ab,Extra=1",
        "Credential AK1",
    ] {
        assert_eq!(v3::Authorization::parse(bad), None, "{bad}");
    }
}

#[test]
fn signatures_compare_exactly() {
    assert!(signatures_equal("abc", "abc"));
    assert!(!signatures_equal("abc", "abd"));
    assert!(!signatures_equal("abc", "ab"));
}
