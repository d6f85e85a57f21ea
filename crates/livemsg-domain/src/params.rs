//! Parsing of scalar request parameters as the SDKs send them.

use crate::error::ApiError;

/// Parses a decimal integer parameter, naming `field` in the error.
pub fn parse_int(field: &str, value: &str) -> Result<i64, ApiError> {
    let digits = value.strip_prefix('-').unwrap_or(value);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid(field, "must be an integer"));
    }
    value
        .parse()
        .map_err(|_| ApiError::invalid(field, "is out of range"))
}

/// Parses a boolean parameter: `true` or `false` in any case (the Python SDKs send `True`).
pub fn parse_bool(field: &str, value: &str) -> Result<bool, ApiError> {
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(ApiError::invalid(field, "must be true or false"))
    }
}

/// Splits a list parameter sent in the SDKs' "simple" style (comma-joined). An empty value is
/// an empty list; empty items are refused.
pub fn parse_list<'a>(field: &str, value: &'a str) -> Result<Vec<&'a str>, ApiError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<&str> = value.split(',').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(ApiError::invalid(field, "must not contain empty items"));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_plain_decimal() {
        assert_eq!(parse_int("N", "42").unwrap(), 42);
        assert_eq!(parse_int("N", "-3").unwrap(), -3);
        for bad in ["", "-", "+1", " 1", "1 ", "0x10", "1.5", "abc"] {
            assert_eq!(
                parse_int("N", bad).unwrap_err().message,
                "N must be an integer.",
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_int("N", "9223372036854775808").unwrap_err().message,
            "N is out of range."
        );
    }

    #[test]
    fn booleans_accept_any_case() {
        assert!(parse_bool("B", "True").unwrap());
        assert!(parse_bool("B", "TRUE").unwrap());
        assert!(!parse_bool("B", "false").unwrap());
        assert!(!parse_bool("B", "False").unwrap());
        assert!(parse_bool("B", "1").is_err());
        assert!(parse_bool("B", "yes").is_err());
    }

    #[test]
    fn lists_are_comma_joined() {
        assert_eq!(parse_list("L", "a,b").unwrap(), vec!["a", "b"]);
        assert!(parse_list("L", "").unwrap().is_empty());
        assert!(parse_list("L", "a,,b").is_err());
        assert!(parse_list("L", "a,").is_err());
    }
}
