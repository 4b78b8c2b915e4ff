//! Which pages may connect with ambient credentials: the `Origin` check that stops cross-site
//! WebSocket hijacking.
//!
//! A browser attaches cookies to a connection any page opens, so a page on another site could
//! connect as the signed-in user. Browsers send that page's origin in the `Origin` header,
//! which the page cannot change. tether therefore reads a token from a cookie only for the
//! origins the application lists ([`TetherBuilder::allowed_origins`]), and not at all until it
//! lists some; a token in the URL's query is refused from other origins too. A request without
//! `Origin` did not come from a cross-site page (browsers send it on every WebSocket upgrade and
//! cross-origin request; other clients send none) and passes.
//!
//! [`TetherBuilder::allowed_origins`]: crate::TetherBuilder::allowed_origins

use std::collections::HashSet;

use http::HeaderMap;

/// What the `Origin` check decided for one handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum OriginCheck {
    /// No allowed origins are configured: cookie tokens are off, query tokens accepted.
    #[default]
    NotConfigured,
    /// The request came from an allowed origin, or carried no `Origin`.
    Allowed,
    /// The request came from a page on another origin.
    Forbidden,
}

/// The origins whose pages may connect with a cookie or query token, normalised
/// (`scheme://host[:port]`, lower case, no trailing slash).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct AllowedOrigins(HashSet<String>);

impl AllowedOrigins {
    /// The list, each entry checked to be an origin (`https://app.example.com`, with a port when
    /// not the default): no path, query, wildcard or `null`.
    pub(crate) fn new<I, S>(origins: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        origins
            .into_iter()
            .map(|origin| {
                let origin = origin.as_ref();
                let normalised = normalise(origin);
                let valid = normalised
                    .split_once("://")
                    .is_some_and(|(scheme, host)| {
                        matches!(scheme, "http" | "https")
                            && !host.is_empty()
                            && !host.contains(['/', '?', '#', '*', ' ', '@'])
                    });
                if valid {
                    Ok(normalised)
                } else {
                    Err(format!(
                        "`{origin}` is not an origin (expected `https://host` or `http://host:port`)"
                    ))
                }
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// Checks the `Origin` header of a handshake.
    pub(crate) fn check(&self, headers: &HeaderMap) -> OriginCheck {
        let origins: Vec<_> = headers.get_all(http::header::ORIGIN).iter().collect();
        match origins.as_slice() {
            [] => OriginCheck::Allowed,
            [one] => match one.to_str() {
                Ok(origin) if self.0.contains(&normalise(origin)) => OriginCheck::Allowed,
                _ => OriginCheck::Forbidden,
            },
            // Browsers send one; several is not a browser, and not trusted.
            _ => OriginCheck::Forbidden,
        }
    }
}

fn normalise(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn headers(origins: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for origin in origins {
            headers.append(http::header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn only_listed_origins_pass_and_a_request_without_origin_is_not_cross_site() {
        let allowed = AllowedOrigins::new(["https://App.example.com/", "http://localhost:3000"]);
        let allowed = allowed.unwrap();
        assert_eq!(
            allowed.check(&headers(&["https://app.example.com"])),
            OriginCheck::Allowed
        );
        assert_eq!(
            allowed.check(&headers(&["http://localhost:3000"])),
            OriginCheck::Allowed
        );
        assert_eq!(allowed.check(&headers(&[])), OriginCheck::Allowed);
        for evil in [
            "http://app.example.com",
            "https://app.example.com.evil",
            "null",
            "http://localhost:3001",
        ] {
            assert_eq!(
                allowed.check(&headers(&[evil])),
                OriginCheck::Forbidden,
                "{evil}"
            );
        }
        let twice = headers(&["https://app.example.com", "https://evil.example"]);
        assert_eq!(allowed.check(&twice), OriginCheck::Forbidden);
    }

    #[test]
    fn what_is_not_an_origin_is_refused_with_the_entry_named() {
        for bad in [
            "*",
            "app.example.com",
            "https://app.example.com/path",
            "null",
            "ftp://x",
            "https://*.example.com",
        ] {
            let err = AllowedOrigins::new([bad]).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }
}
