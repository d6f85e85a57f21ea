//! Request parameters: decoded from the query string and a form body, checked for repeats, and
//! read as the SDKs write them (decimal integers, `True`/`false`, comma-joined or numbered lists).

use livemsg_domain::ApiError;

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

/// Decodes `application/x-www-form-urlencoded` pairs (`+` is a space, `%XY` a byte). Empty
/// segments are skipped. Text that is not UTF-8 after decoding is refused.
pub fn decode_pairs(raw: &[u8], source: &str) -> Result<Vec<(String, String)>, ApiError> {
    decode_pairs_limited(raw, source, usize::MAX)
}

/// [`decode_pairs`], refusing more than `max` pairs before decoding any.
pub fn decode_pairs_limited(
    raw: &[u8],
    source: &str,
    max: usize,
) -> Result<Vec<(String, String)>, ApiError> {
    let count = raw.split(|b| *b == b'&').filter(|s| !s.is_empty()).count();
    if count > max {
        return Err(ApiError::invalid(
            source,
            format_args!("must carry at most {max} parameters"),
        ));
    }
    let mut pairs = Vec::with_capacity(count);
    for segment in raw.split(|b| *b == b'&') {
        if segment.is_empty() {
            continue;
        }
        let (name, value) = match segment.iter().position(|b| *b == b'=') {
            Some(at) => (&segment[..at], &segment[at + 1..]),
            None => (segment, &b""[..]),
        };
        let decode = |bytes: &[u8]| -> Result<String, ApiError> {
            let plus_as_space: Vec<u8> = bytes
                .iter()
                .map(|b| if *b == b'+' { b' ' } else { *b })
                .collect();
            let decoded: Vec<u8> = percent_encoding::percent_decode(&plus_as_space).collect();
            String::from_utf8(decoded)
                .map_err(|_| ApiError::invalid(source, "is not valid UTF-8 after decoding"))
        };
        pairs.push((decode(name)?, decode(value)?));
    }
    Ok(pairs)
}

/// The parameters of one request: the query string's and the form body's, together.
#[derive(Debug, Clone, Default)]
pub struct Params {
    query: Vec<(String, String)>,
    all: Vec<(String, String)>,
}

impl Params {
    /// Joins query and body parameters. A name given twice, in one place or across both, is
    /// refused: which of two values was signed, checked or meant cannot be left to chance.
    pub fn new(
        query: Vec<(String, String)>,
        body: Vec<(String, String)>,
    ) -> Result<Self, ApiError> {
        let mut all: Vec<(String, String)> = query.iter().cloned().chain(body).collect();
        let mut names: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(ApiError::invalid(
                &format!("Parameter {}", pair[0]),
                "is given more than once",
            ));
        }
        all.shrink_to_fit();
        Ok(Params { query, all })
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.all
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a required parameter; absent or empty is `Missing<Name>`.
    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// The value of an optional parameter, empty when absent.
    pub fn optional(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// An optional integer parameter; absent or empty is `default`.
    pub fn int64(&self, name: &str, default: i64) -> Result<i64, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => parse_int(name, v),
        }
    }

    /// An optional integer parameter: `None` when absent or empty.
    pub fn int64_opt(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_int(name, v).map(Some),
        }
    }

    /// An optional boolean parameter (`true`/`false` in any case): `None` when absent or empty.
    pub fn bool_opt(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => parse_bool(name, v).map(Some),
        }
    }

    /// An optional integer parameter that must fit 32 bits; absent or empty is `default`.
    pub fn int32(&self, name: &str, default: i32) -> Result<i32, ApiError> {
        i32::try_from(self.int64(name, i64::from(default))?)
            .map_err(|_| ApiError::invalid(name, "is out of range"))
    }

    /// A list parameter in either form the SDKs send: "simple" (`Name=a,b`, the current SDK)
    /// or "repeat list" (`Name.1=a&Name.2=b`, the legacy SDK). Giving both is refused.
    pub fn list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let prefix = format!("{name}.");
        let mut indexed: Vec<(u32, &str)> = Vec::new();
        for (key, value) in &self.all {
            let Some(index) = key.strip_prefix(&prefix) else {
                continue;
            };
            let index: u32 = index
                .parse()
                .map_err(|_| ApiError::invalid(key, "is not a numbered list item"))?;
            if value.is_empty() {
                return Err(ApiError::invalid(key, "must not be empty"));
            }
            indexed.push((index, value.as_str()));
        }
        let simple = self.get(name).filter(|v| !v.is_empty());
        match (simple, indexed.is_empty()) {
            (Some(_), false) => Err(ApiError::invalid(
                name,
                format_args!("is given both as {name} and as {name}.N"),
            )),
            (Some(value), true) => Ok(parse_list(name, value)?
                .into_iter()
                .map(str::to_owned)
                .collect()),
            (None, _) => {
                indexed.sort_unstable_by_key(|(i, _)| *i);
                Ok(indexed.into_iter().map(|(_, v)| v.to_owned()).collect())
            }
        }
    }

    /// A required list parameter: absent or empty is `Missing<Name>`.
    pub fn required_list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        let list = self.list(name)?;
        if list.is_empty() {
            return Err(ApiError::missing(name));
        }
        Ok(list)
    }

    /// Every parameter, query and body, as `(name, value)` (for V1 signing).
    pub fn all(&self) -> impl Iterator<Item = (&str, &str)> {
        self.all.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The query parameters alone (for the V3 canonical query).
    pub fn query(&self) -> impl Iterator<Item = (&str, &str)> {
        self.query.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livemsg_domain::ErrorCode;

    #[test]
    fn pairs_decode_plus_and_percent_escapes() {
        let pairs = decode_pairs(b"GroupId=group+1&Name=%C3%A9%2B&Flag&&Empty=", "query").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("GroupId".to_owned(), "group 1".to_owned()),
                ("Name".to_owned(), "é+".to_owned()),
                ("Flag".to_owned(), String::new()),
                ("Empty".to_owned(), String::new()),
            ]
        );
        let err = decode_pairs(b"A=%FF", "The query string").unwrap_err();
        assert_eq!(err.code, ErrorCode::InputInvalid);
        assert!(err.message.contains("UTF-8"));
    }

    #[test]
    fn a_parameter_given_twice_is_refused_wherever_it_comes_from() {
        let q = |s: &str| decode_pairs(s.as_bytes(), "query").unwrap();
        let err = Params::new(q("GroupId=a&GroupId=b"), vec![]).unwrap_err();
        assert_eq!(err.message, "Parameter GroupId is given more than once.");
        assert!(Params::new(q("GroupId=a"), q("GroupId=a")).is_err());
        // Names are case-sensitive, as in the API: these are two different parameters.
        assert!(Params::new(q("GroupId=a&groupid=b"), vec![]).is_ok());
    }

    #[test]
    fn lists_arrive_comma_joined_or_numbered() {
        let p = |q: &str| Params::new(decode_pairs(q.as_bytes(), "q").unwrap(), vec![]).unwrap();
        assert_eq!(p("Admins=a%2Cb").list("Admins").unwrap(), ["a", "b"]);
        assert_eq!(
            p("Admins.2=b&Admins.1=a").list("Admins").unwrap(),
            ["a", "b"]
        );
        assert!(p("").list("Admins").unwrap().is_empty());
        assert!(p("Admins=a&Admins.1=b").list("Admins").is_err());
        assert!(p("Admins.x=a").list("Admins").is_err());
        assert!(p("Admins.1=").list("Admins").is_err());
        assert_eq!(
            p("").required_list("UserIds").unwrap_err().code_string(),
            "MissingUserIds"
        );
        assert_eq!(p("UserIds.1=a").required_list("UserIds").unwrap(), ["a"]);
    }

    #[test]
    fn required_parameters_must_be_present_and_non_empty() {
        let p = Params::new(
            decode_pairs(b"AppId=a&GroupId=&PageSize=x", "q").unwrap(),
            vec![],
        )
        .unwrap();
        assert_eq!(p.required("AppId").unwrap(), "a");
        assert_eq!(
            p.required("GroupId").unwrap_err().code_string(),
            "MissingGroupId"
        );
        assert_eq!(
            p.required("SortType").unwrap_err().code_string(),
            "MissingSortType"
        );
        assert_eq!(p.int32("AuditType", 0).unwrap(), 0);
        assert_eq!(
            p.int32("PageSize", 0).unwrap_err().message,
            "PageSize must be an integer."
        );
    }

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
