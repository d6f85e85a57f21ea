//! Generates the gRPC client and server code from `proto/`, with the protoc that
//! `protoc-bin-vendored` ships, so a build needs no system protobuf compiler.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // prost-build finds protoc through PROTOC; build scripts are single-threaded.
    std::env::set_var("PROTOC", protoc);
    let root = "../../proto";
    let files = [
        "livemsg/common/v1/common.proto",
        "livemsg/auth/v1/auth.proto",
        "livemsg/api/v1/apps.proto",
        "livemsg/api/v1/groups.proto",
        "livemsg/api/v1/members.proto",
        "livemsg/api/v1/messages.proto",
        "livemsg/api/v1/moderation.proto",
        "livemsg/membership/v1/membership.proto",
        "livemsg/messaging/v1/messaging.proto",
        "livemsg/admin/v1/admin.proto",
        "livemsg/events/v1/events.proto",
    ];
    let paths: Vec<String> = files.iter().map(|f| format!("{root}/{f}")).collect();
    tonic_prost_build::configure()
        .file_descriptor_set_path(
            std::path::PathBuf::from(std::env::var("OUT_DIR")?).join("livemsg_descriptor.bin"),
        )
        .compile_protos(&paths, &[root.to_owned()])?;
    for path in &paths {
        println!("cargo:rerun-if-changed={path}");
    }
    Ok(())
}
