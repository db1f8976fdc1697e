//! `time`: instants as microseconds since the Unix epoch, UTC ([`Micros`]):
//! the event time of a stored row, the time of a write, a dead letter's
//! failure time. Parsing the event times inputs carry and printing the
//! RFC 3339 form answers use live here, so ingest, the store and the server
//! share one definition.

use crate::value::Value;
use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// Microseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct Micros(pub i64);

impl Micros {
    /// What Feast reports for join keys and missing values.
    pub const EPOCH: Micros = Micros(0);

    pub fn now() -> Self {
        Micros(chrono::Utc::now().timestamp_micros())
    }

    /// `self` moved back by `d` (saturating).
    pub fn minus(self, d: std::time::Duration) -> Self {
        Micros(
            self.0
                .saturating_sub(i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
        )
    }

    /// Whether a value of event time `self` is older than `max_age` at `now`.
    pub fn older_than(self, max_age: std::time::Duration, now: Micros) -> bool {
        self < now.minus(max_age)
    }

    /// An event time as inputs carry it: RFC 3339; a naive ISO 8601 date and
    /// time, taken as UTC (what Feast's SDK sends: `2026-11-30T12:16:33`);
    /// `YYYY-MM-DD` or `YYYYMMDD` (a partition date, as the seed's `ds`);
    /// or integer epoch seconds.
    pub fn parse(v: &Value) -> Result<Self, String> {
        match v {
            Value::Int64(s) => seconds(*s).ok_or_else(|| format!("{s} is out of range")),
            Value::String(s) => parse_text(s.trim()).ok_or_else(|| {
                format!(
                    "{s:?} is not RFC 3339, an ISO 8601 date and time, YYYY-MM-DD, YYYYMMDD or epoch seconds"
                )
            }),
            other => Err(format!("expected a time, got {}", other.type_name())),
        }
    }

    /// RFC 3339 in UTC with as many fraction digits as needed (`2025-05-09T00:00:00Z`).
    pub fn rfc3339(self) -> String {
        DateTime::from_timestamp_micros(self.0).map_or_else(
            || "1970-01-01T00:00:00Z".to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        )
    }
}

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

fn seconds(s: i64) -> Option<Micros> {
    s.checked_mul(1_000_000).map(Micros)
}

fn parse_text(t: &str) -> Option<Micros> {
    let midnight = |d: NaiveDate| d.and_hms_opt(0, 0, 0).expect("midnight exists");
    let naive = |n: NaiveDateTime| Micros(n.and_utc().timestamp_micros());
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Some(Micros(d.timestamp_micros()));
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(n) = NaiveDateTime::parse_from_str(t, format) {
            return Some(naive(n));
        }
    }
    for format in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(t, format) {
            return Some(naive(midnight(d)));
        }
    }
    t.parse::<i64>().ok().and_then(seconds)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Result<Micros, String> {
        Micros::parse(&Value::String(s.into()))
    }

    #[test]
    fn event_time_formats() {
        let day = Micros(1_746_748_800_000_000); // 2025-05-09T00:00:00Z
        assert_eq!(text("2025-05-09T00:00:00Z"), Ok(day));
        assert_eq!(text("2025-05-09T02:00:00+02:00"), Ok(day));
        assert_eq!(text("2025-05-09"), Ok(day));
        assert_eq!(text("20250509"), Ok(day));
        assert_eq!(Micros::parse(&Value::Int64(1_746_748_800)), Ok(day));
        assert!(text("yesterday").unwrap_err().contains("yesterday"));
        assert!(Micros::parse(&Value::Bool(true)).is_err());
    }

    #[test]
    fn feasts_naive_timestamps_are_utc() {
        let t = Micros(1_746_748_800_000_000 + 12 * 3_600_000_000 + 16 * 60_000_000 + 33_000_000);
        assert_eq!(text("2025-05-09T12:16:33"), Ok(t));
        assert_eq!(text("2025-05-09 12:16:33"), Ok(t));
        assert_eq!(
            text("2025-05-09T12:16:33.250000"),
            Ok(Micros(t.0 + 250_000))
        );
        assert_eq!(t.rfc3339(), "2025-05-09T12:16:33Z");
    }

    #[test]
    fn ages() {
        let now = Micros(10_000_000);
        let hour = std::time::Duration::from_secs(1);
        assert!(Micros(8_999_999).older_than(hour, now));
        assert!(!Micros(9_000_000).older_than(hour, now));
    }
}
