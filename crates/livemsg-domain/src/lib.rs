//! The rules of livemsg, free of I/O.
//!
//! Everything a request must satisfy before it reaches storage lives here: what a valid
//! identifier is, how long a group name may be, which page sizes and sort orders exist, how a
//! group moves between its normal, super and closed states, and the table of API error codes
//! with their HTTP statuses. The store, the gRPC service and the HTTP gateway all call into
//! this crate, so a rule is written once and tested once.

pub mod error;
pub mod events;
pub mod group;
pub mod ids;
pub mod listing;
pub mod paging;
pub mod policy;
pub mod scope;
pub mod url;

pub use error::{AccessDenied, ApiError, ErrorCode};
pub use group::{GroupState, MembershipChange, DEFAULT_SUPER_GROUP_THRESHOLD};
pub use ids::{
    AppId, AppName, DataCenter, GroupId, GroupInfo, GroupName, MessageBody, MsgTid, UserId,
    UserInfo,
};
pub use listing::{Cursor, GroupStatus, NumberedPage};
pub use paging::{PageSize, PageToken, SortType};
pub use scope::{AccountId, AppScope};
pub use url::{check_callback_url, is_private_ip};
