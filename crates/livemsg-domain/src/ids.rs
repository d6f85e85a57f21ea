//! Identifiers and the bounded text fields of apps, groups and users.
//!
//! Every type here can only be built through a constructor that checks the API reference's
//! rule for it, so holding an `AppId` or a `GroupName` is proof that the value is valid. The
//! constructors take the parameter name so that the error names the field the caller sent.

use std::fmt;

use crate::error::ApiError;

/// The longest identifier, in bytes.
pub const MAX_ID_BYTES: usize = 64;
/// The longest group name, in bytes.
pub const MAX_GROUP_NAME_BYTES: usize = 128;
/// The longest group info, in bytes (32 KB).
pub const MAX_GROUP_INFO_BYTES: usize = 32 * 1024;
/// The longest user info, in bytes.
pub const MAX_USER_INFO_BYTES: usize = 512;
/// The longest message body, in bytes (15 KB).
pub const MAX_BODY_BYTES: usize = 15 * 1024;
/// App names are 2 to 16 characters.
pub const APP_NAME_CHARS: std::ops::RangeInclusive<usize> = 2..=16;

fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.is_empty() {
        return Err(ApiError::invalid(field, "must not be empty"));
    }
    if value.len() > MAX_ID_BYTES {
        return Err(ApiError::invalid(
            field,
            format_args!("must be at most {MAX_ID_BYTES} bytes long"),
        ));
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ApiError::invalid(
            field,
            "may contain only letters and digits",
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Checks `value` under the parameter name this type usually travels as.
            pub fn parse(value: &str) -> Result<Self, ApiError> {
                Self::parse_field($field, value)
            }

            /// Checks `value`, naming `field` in the error.
            pub fn parse_field(field: &str, value: &str) -> Result<Self, ApiError> {
                check_id(field, value)?;
                Ok($name(value.to_owned()))
            }

            /// The identifier as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The identifier as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An interactive messaging application: letters and digits, at most 64 bytes.
    AppId,
    "AppId"
);
id_type!(
    /// A group within an app: letters and digits, at most 64 bytes.
    GroupId,
    "GroupId"
);
id_type!(
    /// A user (also a creator, operator or administrator): letters and digits, at most 64 bytes.
    UserId,
    "UserId"
);
id_type!(
    /// A message's id (`MsgTid`, `MessageId`): letters and digits, at most 64 bytes.
    MsgTid,
    "MsgTid"
);

/// Checks free text: at most `max` bytes, and never a NUL (Postgres text cannot hold one); with
/// `name`, no control characters either (a display name is one line of text).
pub fn check_text(field: &str, value: &str, max: usize, name: bool) -> Result<(), ApiError> {
    if value.len() > max {
        return Err(ApiError::invalid(
            field,
            format_args!("must be at most {max} bytes long"),
        ));
    }
    if value.contains('\0') {
        return Err(ApiError::invalid(field, "must not contain NUL characters"));
    }
    if name && value.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

macro_rules! text_type {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr, $is_name:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Default)]
        pub struct $name(String);

        impl $name {
            /// Checks `value`: its length, no NUL (and for names no control characters).
            pub fn parse(value: &str) -> Result<Self, ApiError> {
                Self::parse_field($field, value)
            }

            /// [`Self::parse`], naming `field` (the parameter's name in this operation).
            pub fn parse_field(field: &str, value: &str) -> Result<Self, ApiError> {
                check_text(field, value, $max, $is_name)?;
                Ok($name(value.to_owned()))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text as an owned string.
            pub fn into_string(self) -> String {
                self.0
            }
        }
    };
}

text_type!(
    /// A group's display name, at most 128 bytes.
    GroupName,
    "GroupName",
    MAX_GROUP_NAME_BYTES,
    true
);
text_type!(
    /// A group's free-form extension data, at most 32 KB.
    GroupInfo,
    "GroupInfo",
    MAX_GROUP_INFO_BYTES,
    false
);
text_type!(
    /// A member's free-form extension data, at most 512 bytes.
    UserInfo,
    "UserInfo",
    MAX_USER_INFO_BYTES,
    false
);

text_type!(
    /// A message's body, at most 15 KB.
    MessageBody,
    "Body",
    MAX_BODY_BYTES,
    false
);

/// An app's display name: 2 to 16 characters (characters, not bytes: names may be Chinese).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName(String);

impl AppName {
    /// Checks the length of `value` in characters.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        let chars = value.chars().count();
        if !APP_NAME_CHARS.contains(&chars) {
            return Err(ApiError::invalid(
                "AppName",
                format_args!(
                    "must be {} to {} characters long",
                    APP_NAME_CHARS.start(),
                    APP_NAME_CHARS.end()
                ),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "AppName",
                "must not contain control characters",
            ));
        }
        Ok(AppName(value.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an app's data lives. An app remembers its data center; calls naming another one do
/// not find it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DataCenter {
    /// China (Shanghai), the default.
    #[default]
    CnShanghai,
    /// Singapore.
    ApSoutheast1,
}

impl DataCenter {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DataCenter::CnShanghai => "cn-shanghai",
            DataCenter::ApSoutheast1 => "ap-southeast-1",
        }
    }

    /// Parses the `DataCenter` parameter; an empty value means the default.
    pub fn parse(value: &str) -> Result<Self, ApiError> {
        match value {
            "" | "cn-shanghai" => Ok(DataCenter::CnShanghai),
            "ap-southeast-1" => Ok(DataCenter::ApSoutheast1),
            _ => Err(ApiError::invalid(
                "DataCenter",
                "must be cn-shanghai or ap-southeast-1",
            )),
        }
    }
}

impl fmt::Display for DataCenter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorCode;

    #[test]
    fn ids_accept_letters_and_digits_up_to_64_bytes() {
        assert!(GroupId::parse("grouptest").is_ok());
        assert!(GroupId::parse("Ab09").is_ok());
        assert!(UserId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn ids_reject_empty_long_and_other_characters_naming_the_field() {
        let empty = GroupId::parse("").unwrap_err();
        assert_eq!(empty.code, ErrorCode::InputInvalid);
        assert_eq!(empty.message, "GroupId must not be empty.");

        let long = UserId::parse(&"a".repeat(65)).unwrap_err();
        assert_eq!(long.message, "UserId must be at most 64 bytes long.");

        for bad in ["group 1", "a_b", "a-b", "é", "a.b", "a\0b", "grp/1"] {
            let err = AppId::parse(bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::InputInvalid, "{bad}");
            assert_eq!(err.message, "AppId may contain only letters and digits.");
        }

        let creator = UserId::parse_field("CreatorId", "x y").unwrap_err();
        assert!(creator.message.starts_with("CreatorId "));
    }

    #[test]
    fn text_fields_are_bounded_in_bytes() {
        assert!(GroupName::parse(&"n".repeat(128)).is_ok());
        assert_eq!(
            GroupName::parse(&"n".repeat(129)).unwrap_err().message,
            "GroupName must be at most 128 bytes long."
        );
        // 43 three-byte characters are 129 bytes.
        assert!(GroupName::parse(&"群".repeat(43)).is_err());
        assert!(GroupInfo::parse(&"i".repeat(32 * 1024)).is_ok());
        assert!(GroupInfo::parse(&"i".repeat(32 * 1024 + 1)).is_err());
        assert!(UserInfo::parse(&"u".repeat(512)).is_ok());
        assert!(UserInfo::parse(&"u".repeat(513)).is_err());
        assert!(UserInfo::parse("").is_ok());
    }

    #[test]
    fn text_never_holds_a_nul_and_names_no_control_characters() {
        for bad in ["a\0b", "\0"] {
            assert_eq!(
                GroupInfo::parse(bad).unwrap_err().message,
                "GroupInfo must not contain NUL characters."
            );
            assert_eq!(
                UserInfo::parse(bad).unwrap_err().message,
                "UserInfo must not contain NUL characters."
            );
            assert_eq!(
                GroupName::parse(bad).unwrap_err().message,
                "GroupName must not contain NUL characters."
            );
        }
        assert_eq!(
            GroupName::parse("two\nlines").unwrap_err().message,
            "GroupName must not contain control characters."
        );
        // Free-form info may hold newlines and tabs (JSON, say), and any Unicode.
        assert!(GroupInfo::parse("{\n\t\"k\": \"直播\"\n}").is_ok());
        assert!(UserInfo::parse("line1\nline2").is_ok());
    }

    #[test]
    fn app_names_are_two_to_sixteen_characters() {
        assert!(AppName::parse("ab").is_ok());
        assert!(AppName::parse(&"直播".repeat(8)).is_ok());
        assert!(AppName::parse("a").is_err());
        assert!(AppName::parse(&"a".repeat(17)).is_err());
        assert!(AppName::parse("a\nb").is_err());
        assert_eq!(
            AppName::parse("a").unwrap_err().message,
            "AppName must be 2 to 16 characters long."
        );
    }

    #[test]
    fn data_center_defaults_to_shanghai_and_knows_singapore() {
        assert_eq!(DataCenter::parse("").unwrap(), DataCenter::CnShanghai);
        assert_eq!(
            DataCenter::parse("cn-shanghai").unwrap(),
            DataCenter::CnShanghai
        );
        assert_eq!(
            DataCenter::parse("ap-southeast-1").unwrap(),
            DataCenter::ApSoutheast1
        );
        let err = DataCenter::parse("cn-beijing").unwrap_err();
        assert_eq!(err.code, ErrorCode::InputInvalid);
        assert!(err.message.contains("DataCenter"));
        assert_eq!(DataCenter::ApSoutheast1.to_string(), "ap-southeast-1");
    }
}
