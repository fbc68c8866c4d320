//! Account ids out of text that leaves the edge: any run of exactly twelve digits (an AWS
//! account id, as in ARNs and Bedrock's messages) becomes `***`.

/// `text` with every run of exactly twelve ASCII digits replaced by `***`.
pub fn mask_account_ids(text: &str) -> String {
    let mut masked = String::with_capacity(text.len());
    let mut digits = String::new();
    let flush = |digits: &mut String, masked: &mut String| {
        masked.push_str(if digits.len() == 12 { "***" } else { digits });
        digits.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
        } else {
            flush(&mut digits, &mut masked);
            masked.push(c);
        }
    }
    flush(&mut digits, &mut masked);
    masked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twelve_digit_runs_are_masked_and_nothing_else() {
        assert_eq!(
            mask_account_ids("arn:aws:iam::123456789012:role/x denied"),
            "arn:aws:iam::***:role/x denied"
        );
        assert_eq!(
            mask_account_ids("1234567890123 and 12345"),
            "1234567890123 and 12345"
        );
        assert_eq!(mask_account_ids("123456789012"), "***");
        assert_eq!(mask_account_ids(""), "");
    }
}
