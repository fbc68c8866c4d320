//! The fake's clock (the crate's wall clock, as signed milliseconds), UTC calendar
//! conversions for `x-amz-date` and ISO-8601 timestamps, and request-id generation.

use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    i64::try_from(crate::wall_clock::now_ms()).unwrap_or(i64::MAX)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if month <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        month,
        day,
    )
}

fn number(text: &str) -> Option<i64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok())?
}

fn seconds_of(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second);
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// Seconds since the epoch of an `x-amz-date` value (`20150830T123600Z`).
pub fn parse_amz_date(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let part = |range: std::ops::Range<usize>| text.get(range).and_then(number);
    seconds_of(
        part(0..4)?,
        part(4..6)?,
        part(6..8)?,
        part(9..11)?,
        part(11..13)?,
        part(13..15)?,
    )
}

/// Seconds since the epoch of `2024-01-01T00:00:00Z` (fractional seconds allowed, `Z` only).
pub fn parse_iso8601(text: &str) -> Option<i64> {
    let body = text.strip_suffix('Z')?;
    let (date, time) = body.split_once('T')?;
    let time = time.split_once('.').map_or(time, |(whole, _)| whole);
    let d: Vec<&str> = date.split('-').collect();
    let t: Vec<&str> = time.split(':').collect();
    match (d.as_slice(), t.as_slice()) {
        ([y, mo, da], [h, mi, s]) => seconds_of(
            number(y)?,
            number(mo)?,
            number(da)?,
            number(h)?,
            number(mi)?,
            number(s)?,
        ),
        _ => None,
    }
}

/// `x-amz-date` form of a time in seconds.
pub fn amz_date(seconds: i64) -> String {
    let (y, mo, d) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    format!(
        "{y:04}{mo:02}{d:02}T{:02}{:02}{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// ISO-8601 UTC with milliseconds, as Bedrock's JSON timestamps: `2024-01-01T00:00:00.000Z`.
pub fn iso8601(ms: i64) -> String {
    let seconds = ms.div_euclid(1000);
    let (y, mo, d) = civil_from_days(seconds.div_euclid(86_400));
    let s = seconds.rem_euclid(86_400);
    let millis = ms.rem_euclid(1000);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// A fresh, unique, uuid-shaped id (sha256 of a counter and the clock).
pub fn request_id() -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let hash = hex::encode(Sha256::digest(format!(
        "{seq}/{}/{}",
        now_ms(),
        std::process::id()
    )));
    format!(
        "{}-{}-4{}-a{}-{}",
        &hash[0..8],
        &hash[8..12],
        &hash[13..16],
        &hash[17..20],
        &hash[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        // 2015-08-30T12:36:00Z, the SigV4 test-suite time.
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(amz_date(1_440_938_160), "20150830T123600Z");
        assert_eq!(iso8601(1_440_938_160_123), "2015-08-30T12:36:00.123Z");
        assert_eq!(
            parse_iso8601("2015-08-30T12:36:00.123Z"),
            Some(1_440_938_160)
        );
        assert_eq!(parse_iso8601("2024-02-29T00:00:00Z"), Some(1_709_164_800));
        for bad in [
            "",
            "20150830T123600",
            "2015083XT123600Z",
            "20151330T123600Z",
            "２0150830T12360Z",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
        assert_eq!(parse_iso8601("2024-01-01 00:00:00Z"), None);
    }

    #[test]
    fn request_ids_look_like_uuids_and_differ() {
        let (a, b) = (request_id(), request_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.matches('-').count(), 4);
    }
}
