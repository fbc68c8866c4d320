//! UTC timestamps of Unix milliseconds, in the ISO 8601 forms AWS uses: extended
//! (`2024-01-01T00:00:00Z`, API parameters) and basic (`20240101T000000Z`, SigV4's
//! `x-amz-date`). Whole seconds.

/// `2024-01-01T00:00:00Z` for Unix milliseconds `ms` (whole seconds, UTC).
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `20240101T000000Z` for Unix milliseconds `ms`.
pub fn amz_date(ms: u64) -> String {
    iso8601(ms).replace(['-', ':'], "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso_8601() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_700_000_000_999), "2023-11-14T22:13:20Z");
        assert_eq!(amz_date(1_440_938_160_000), "20150830T123600Z");
    }
}
