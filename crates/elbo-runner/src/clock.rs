//! UTC timestamps for run directories and summaries; the `time` crate does the calendar.

use std::time::SystemTime;

use time::OffsetDateTime;

/// `YYYYMMDDTHHMMSSZ` for a time, in UTC (sorts as text in time order).
pub fn utc_timestamp(t: SystemTime) -> String {
    let t = OffsetDateTime::from(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        // 2000-02-29T12:34:56Z and 1970-01-01T00:00:00Z, known instants.
        let t = UNIX_EPOCH + Duration::from_secs(951_827_696);
        assert_eq!(utc_timestamp(t), "20000229T123456Z");
        assert_eq!(utc_timestamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_083_200);
        assert_eq!(utc_timestamp(t), "20261201T000000Z");
    }
}
