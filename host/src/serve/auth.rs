//! Bearer tokens: `[server.auth]`'s read and write tokens, read once when
//! the server starts from environment variables or files, and the admin
//! token of the discovery file, which may do anything. Compared in
//! constant time; never logged (`Debug` hides them). Checked by the
//! routes' gate (`gate.rs`).

use super::ApiError;
use crate::config::{AuthConfig, Config};
use axum::http::{StatusCode, header};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// A token's value; `Debug` never shows it.
#[derive(Clone)]
pub(super) struct Token(Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl Token {
    pub(super) fn new(value: &str) -> Token {
        Token(value.into())
    }

    /// Equal, in a time that does not tell how much of a guess was right.
    fn is(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }
}

/// What an endpoint needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Read,
    Write,
    Admin,
}

/// The tokens in force, and what a route needs of them.
#[derive(Debug, Clone)]
pub(super) struct Guard {
    read: Option<Token>,
    write: Option<Token>,
    /// None until the server has announced itself: nothing is admin then.
    admin: Option<Token>,
    needs: Access,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("server.auth.{key}: environment variable {var} is not set")]
    Unset { key: &'static str, var: String },
    #[error("server.auth.{key}: cannot read {path}: {source}")]
    File {
        key: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("server.auth.{key}: the token is empty")]
    Empty { key: &'static str },
}

impl Guard {
    /// The tokens of `config`'s `[server.auth]` (none: reads and writes
    /// are open).
    pub(super) fn load(config: &Config) -> Result<Guard, AuthError> {
        let none = AuthConfig::default();
        let a = config.server.auth.as_ref().unwrap_or(&none);
        let read = token(
            config,
            ("read_token_env", &a.read_token_env),
            ("read_token_file", &a.read_token_file),
        )?;
        let write = token(
            config,
            ("write_token_env", &a.write_token_env),
            ("write_token_file", &a.write_token_file),
        )?;
        // Half a guard is easy to take for a whole one: say what stays open.
        match (&read, &write) {
            (Some(_), None) => tracing::warn!(
                "server.auth sets a read token only: writes and pushes are open to anyone"
            ),
            (None, Some(_)) => {
                tracing::info!("server.auth sets a write token only: lookups are open to anyone")
            }
            _ => {}
        }
        Ok(Guard {
            read,
            write,
            admin: None,
            needs: Access::Admin,
        })
    }

    /// This guard with the discovery file's token, which may do anything.
    pub(super) fn with_admin(self, token: &str) -> Guard {
        Guard {
            admin: Some(Token::new(token)),
            ..self
        }
    }

    pub(super) fn needs(&self, needs: Access) -> Guard {
        Guard {
            needs,
            ..self.clone()
        }
    }

    /// `Ok` to let the request with `given` through, else the answer.
    fn check(&self, given: Option<&str>) -> Result<(), ApiError> {
        let required = match self.needs {
            Access::Read => self.read.as_ref(),
            Access::Write => self.write.as_ref(),
            // Never open, even before the admin token is known.
            Access::Admin => return self.admin_check(given),
        };
        if required.is_none() {
            return Ok(());
        }
        let Some(given) = given else {
            return Err(unauthorized(
                self.needs,
                "no `Authorization: Bearer <token>` header",
            ));
        };
        let may_read = [&self.read, &self.write].into_iter().flatten();
        let admin = self.admin.as_ref().is_some_and(|t| t.is(given));
        let write = self.write.as_ref().is_some_and(|t| t.is(given));
        let read = may_read.into_iter().any(|t| t.is(given));
        match self.needs {
            _ if admin => Ok(()),
            Access::Write if write => Ok(()),
            Access::Write if read => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "the read token cannot write: send the write token (server.auth.write_token_*)",
            )),
            Access::Read if read => Ok(()),
            _ => Err(unauthorized(self.needs, "the token is not valid")),
        }
    }
}

impl Guard {
    fn admin_check(&self, given: Option<&str>) -> Result<(), ApiError> {
        match (given, &self.admin) {
            (Some(g), Some(t)) if t.is(g) => Ok(()),
            (None, _) => Err(unauthorized(
                Access::Admin,
                "no `Authorization: Bearer <token>` header",
            )),
            _ => Err(unauthorized(Access::Admin, "the token is not valid")),
        }
    }
}

fn unauthorized(needs: Access, why: &str) -> ApiError {
    let which = match needs {
        Access::Read => "the read token (or the write token) (server.auth)",
        Access::Write => "the write token (server.auth)",
        Access::Admin => {
            "the token of the server's discovery file (<store>/wafer-server.json): \
             `wafer reload`, `wafer publish` and `wafer deadletter` send it"
        }
    };
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        format!("{why}: this endpoint needs {which}"),
    )
}

/// A token from its variable or its file (trailing whitespace dropped:
/// secrets files often end in a newline).
fn token(
    config: &Config,
    (env_key, env): (&'static str, &Option<toml::Spanned<String>>),
    (file_key, file): (&'static str, &Option<toml::Spanned<std::path::PathBuf>>),
) -> Result<Option<Token>, AuthError> {
    let (key, value) = match (env, file) {
        (Some(var), _) => {
            let var = var.get_ref();
            let value = std::env::var(var).map_err(|_| AuthError::Unset {
                key: env_key,
                var: var.clone(),
            })?;
            (env_key, value)
        }
        (None, Some(path)) => {
            let path = config.resolve(path.get_ref());
            let value = std::fs::read_to_string(&path).map_err(|source| AuthError::File {
                key: file_key,
                path,
                source,
            })?;
            (file_key, value)
        }
        (None, None) => return Ok(None),
    };
    let value = value.trim_end();
    if value.is_empty() {
        return Err(AuthError::Empty { key });
    }
    Ok(Some(Token::new(value)))
}

impl Guard {
    /// `Ok` to let a request with `headers` through, else the answer.
    pub(super) fn admit(&self, headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
        // The scheme is case-insensitive (RFC 7235).
        let given = (headers.get(header::AUTHORIZATION))
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.split_once(' '))
            .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token));
        self.check(given)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(read: Option<&str>, write: Option<&str>, needs: Access) -> Guard {
        Guard {
            read: read.map(Token::new),
            write: write.map(Token::new),
            admin: Some(Token::new("admin")),
            needs,
        }
    }

    fn status(g: &Guard, given: Option<&str>) -> u16 {
        g.check(given)
            .map_or_else(|e| e.status().as_u16(), |()| 200)
    }

    #[test]
    fn each_token_opens_what_it_should() {
        let (r, w) = (Some("r"), Some("w"));
        let write = guard(r, w, Access::Write);
        assert_eq!(
            [None, Some("x"), Some("r"), Some("w"), Some("admin")].map(|t| status(&write, t)),
            [401, 401, 403, 200, 200]
        );
        let read = guard(r, w, Access::Read);
        assert_eq!(
            [None, Some("x"), Some("r"), Some("w"), Some("admin")].map(|t| status(&read, t)),
            [401, 401, 200, 200, 200]
        );
        // Without a read token lookups stay open; so does a write without a write token.
        assert_eq!(status(&guard(None, w, Access::Read), None), 200);
        assert_eq!(status(&guard(r, None, Access::Write), None), 200);
        let admin = guard(None, None, Access::Admin);
        assert_eq!(
            [None, Some(""), Some("admin")].map(|t| status(&admin, t)),
            [401, 401, 200]
        );
        let unannounced = Guard {
            admin: None,
            ..admin
        };
        assert_eq!(status(&unannounced, Some("")), 401);
    }

    #[test]
    fn debug_hides_the_tokens() {
        let shown = format!(
            "{:?}",
            guard(Some("s3cret-r"), Some("s3cret-w"), Access::Read)
        );
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
