//! The operations of the API family, and which of them this gateway serves.

use livemsg_domain::{ApiError, ErrorCode};

/// The API version every request must name.
pub const API_VERSION: &str = "2016-11-01";

/// The operations livemsg serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    CreateLiveMessageApp,
    DescribeLiveMessageApp,
    CreateLiveMessageGroup,
    DescribeLiveMessageGroup,
    ListLiveMessageGroupUsers,
    CheckLiveMessageUsersInGroup,
    CheckLiveMessageUsersOnline,
    ModifyLiveMessageAppCallback,
}

/// The 29 operations of the Live interactive messaging family.
pub const FAMILY: [&str; 29] = [
    "AddLiveMessageGroupBand",
    "BanLiveMessageGroup",
    "CheckLiveMessageUsersInGroup",
    "CheckLiveMessageUsersOnline",
    "CreateLiveMessageApp",
    "CreateLiveMessageGroup",
    "DeleteLiveMessageGroup",
    "DeleteLiveMessageGroupMessage",
    "DeleteLiveMessageUserMessage",
    "DescribeLiveMessageApp",
    "DescribeLiveMessageGroup",
    "DescribeLiveMessageGroupBand",
    "KickLiveMessageGroupUser",
    "ListLiveMessageApps",
    "ListLiveMessageGroupByPage",
    "ListLiveMessageGroupMessages",
    "ListLiveMessageGroupUsers",
    "ListLiveMessageGroups",
    "ModifyLiveMessageAppAudit",
    "ModifyLiveMessageAppCallback",
    "ModifyLiveMessageAppDisable",
    "ModifyLiveMessageGroup",
    "ModifyLiveMessageGroupBand",
    "ModifyLiveMessageUserInfo",
    "RecoverLiveMessageDeletedGroup",
    "RemoveLiveMessageGroupBand",
    "SendLiveMessageGroup",
    "SendLiveMessageUser",
    "UnbanLiveMessageGroup",
];

impl Action {
    /// The operation named `name` (case-sensitive, as the API is). An operation of the family
    /// that livemsg does not serve yet is `UnsupportedOperation`; any other name is
    /// `InvalidAction.NotFound`.
    pub fn resolve(name: &str) -> Result<Action, ApiError> {
        match name {
            "CreateLiveMessageApp" => Ok(Action::CreateLiveMessageApp),
            "DescribeLiveMessageApp" => Ok(Action::DescribeLiveMessageApp),
            "CreateLiveMessageGroup" => Ok(Action::CreateLiveMessageGroup),
            "DescribeLiveMessageGroup" => Ok(Action::DescribeLiveMessageGroup),
            "ListLiveMessageGroupUsers" => Ok(Action::ListLiveMessageGroupUsers),
            "CheckLiveMessageUsersInGroup" => Ok(Action::CheckLiveMessageUsersInGroup),
            "CheckLiveMessageUsersOnline" => Ok(Action::CheckLiveMessageUsersOnline),
            "ModifyLiveMessageAppCallback" => Ok(Action::ModifyLiveMessageAppCallback),
            other if FAMILY.contains(&other) => Err(ApiError::new(
                ErrorCode::UnsupportedOperation,
                format!("{other} is not supported by this livemsg version."),
            )),
            _ => Err(ApiError::of(ErrorCode::InvalidActionNotFound)),
        }
    }

    /// The action's name.
    pub fn name(self) -> &'static str {
        match self {
            Action::CreateLiveMessageApp => "CreateLiveMessageApp",
            Action::DescribeLiveMessageApp => "DescribeLiveMessageApp",
            Action::CreateLiveMessageGroup => "CreateLiveMessageGroup",
            Action::DescribeLiveMessageGroup => "DescribeLiveMessageGroup",
            Action::ListLiveMessageGroupUsers => "ListLiveMessageGroupUsers",
            Action::CheckLiveMessageUsersInGroup => "CheckLiveMessageUsersInGroup",
            Action::CheckLiveMessageUsersOnline => "CheckLiveMessageUsersOnline",
            Action::ModifyLiveMessageAppCallback => "ModifyLiveMessageAppCallback",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_actions_resolve_and_round_trip() {
        for name in [
            "CreateLiveMessageApp",
            "DescribeLiveMessageApp",
            "CreateLiveMessageGroup",
            "DescribeLiveMessageGroup",
            "ListLiveMessageGroupUsers",
            "CheckLiveMessageUsersInGroup",
            "CheckLiveMessageUsersOnline",
            "ModifyLiveMessageAppCallback",
        ] {
            assert_eq!(Action::resolve(name).unwrap().name(), name);
            assert!(FAMILY.contains(&name));
        }
    }

    #[test]
    fn other_family_members_are_unsupported_and_strangers_not_found() {
        assert_eq!(
            Action::resolve("SendLiveMessageGroup").unwrap_err().code,
            ErrorCode::UnsupportedOperation
        );
        assert_eq!(
            Action::resolve("DescribeRegions").unwrap_err().code,
            ErrorCode::InvalidActionNotFound
        );
        assert_eq!(
            Action::resolve("listlivemessagegroupusers")
                .unwrap_err()
                .code,
            ErrorCode::InvalidActionNotFound
        );
    }
}
