//! Display-order keys for messages: strings that sort (byte-wise) in display order, with a new
//! key always available before, after, or between two others.
//!
//! A key is an *integer part* and an optional *fraction*, both in base-36 digits `0-9a-z`:
//! `h` `i0000000` `k3`. The first character says how many integer digits follow (`a` = 1 …
//! `z` = 26), so a longer integer sorts after a shorter one. Appending a message takes the next
//! integer, so keys stay about nine characters long however long a room grows (plain fractional
//! keys grow by a character every few dozen appends). Moving a message between two neighbours
//! takes a fraction between theirs. Repeated moves into the very same gap make fractions longer;
//! [`MAX_KEY_LEN`] bounds that, and the store respaces the room when a key would exceed it.
//!
//! Keys use only ASCII digits and lowercase letters, so SQLite's BINARY and PostgreSQL's "C"
//! collation order them exactly as Rust does.

/// The longest key the store keeps before respacing a room's keys.
pub const MAX_KEY_LEN: usize = 32;

const BASE: u64 = 36;
const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
/// The first message of a room: the middle of the 8-digit integers, so a room has about 1.4e12
/// appends and as many moves to the top before its integer part changes length.
const FIRST: u64 = 18 * 36u64.pow(7);

/// A key for a message after `last` (`None`: the room's first message).
pub fn after(last: Option<&str>) -> String {
    match last {
        None => encode_int(FIRST),
        Some(key) => encode_int(split(key).0 + 1),
    }
}

/// A key before `first`.
pub fn before(first: &str) -> String {
    let (int, frac) = split(first);
    if !frac.is_empty() {
        encode_int(int)
    } else if int > 0 {
        encode_int(int - 1)
    } else {
        // `a0` is the smallest key: nothing sorts before it (reached only after 1.4e12 moves to
        // the top). Answer the respace signal, a key longer than [`MAX_KEY_LEN`]: the store then
        // respaces the room, after which there is room at the top again.
        format!("{}{}1", encode_int(0), "0".repeat(MAX_KEY_LEN))
    }
}

/// A key strictly between `low` and `high` (either may be open). `low < high` is required.
/// A key longer than [`MAX_KEY_LEN`] is the respace signal, not a position: the caller respaces
/// the room (see [`spread`]) and asks again.
pub fn between(low: Option<&str>, high: Option<&str>) -> String {
    match (low, high) {
        (None, None) => after(None),
        (Some(low), None) => after(Some(low)),
        (None, Some(high)) => before(high),
        (Some(low), Some(high)) => {
            debug_assert!(low < high, "between({low:?}, {high:?})");
            let (low_int, low_frac) = split(low);
            let (high_int, high_frac) = split(high);
            if low_int == high_int {
                let frac = fraction_between(&digits(low_frac), Some(&digits(high_frac)));
                format!("{}{}", encode_int(low_int), render(&frac))
            } else if high_int - low_int >= 2 {
                encode_int(low_int + 1)
            } else {
                let frac = fraction_between(&digits(low_frac), None);
                format!("{}{}", encode_int(low_int), render(&frac))
            }
        }
    }
}

/// `n` evenly spaced, short keys in order: the positions of a respaced room.
pub fn spread(n: usize) -> Vec<String> {
    (0..n as u64).map(|i| encode_int(FIRST + i)).collect()
}

fn encode_int(mut value: u64) -> String {
    let mut out = Vec::with_capacity(14);
    loop {
        out.push(DIGITS[(value % BASE) as usize]);
        value /= BASE;
        if value == 0 {
            break;
        }
    }
    out.push(b'a' + (out.len() as u8 - 1));
    out.reverse();
    String::from_utf8(out).expect("ascii")
}

/// The integer value and the fraction text of a key. Keys come from this module; a malformed
/// one (never expected) reads as the smallest integer so that ordering still works.
fn split(key: &str) -> (u64, &str) {
    let bytes = key.as_bytes();
    let Some(&head) = bytes.first() else {
        return (0, "");
    };
    let len = (head.saturating_sub(b'a') as usize + 1).min(bytes.len() - 1);
    let mut value = 0u64;
    for &ch in &bytes[1..1 + len] {
        value = value.saturating_mul(BASE).saturating_add(digit(ch) as u64);
    }
    (value, &key[1 + len..])
}

fn digit(ch: u8) -> u8 {
    match ch {
        b'0'..=b'9' => ch - b'0',
        b'a'..=b'z' => ch - b'a' + 10,
        _ => 0,
    }
}

fn digits(text: &str) -> Vec<u8> {
    text.bytes().map(digit).collect()
}

fn render(frac: &[u8]) -> String {
    frac.iter().map(|&d| DIGITS[d as usize] as char).collect()
}

/// The shortest digit string strictly between the fractions `low` and `high` (`None`: 1.0).
/// Neither input has trailing zeros, and neither does the answer.
fn fraction_between(low: &[u8], high: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    // Copy the shared prefix.
    if let Some(high) = high {
        while i < high.len() && low.get(i).copied().unwrap_or(0) == high[i] {
            out.push(high[i]);
            i += 1;
        }
    }
    let low_rest = low.get(i..).unwrap_or(&[]);
    let high_rest = high.map(|h| &h[i..]);
    let low_digit = low_rest.first().copied().unwrap_or(0) as u64;
    let high_digit = high_rest
        .and_then(|h| h.first())
        .map_or(BASE, |&d| d as u64);
    if high_digit - low_digit > 1 {
        out.push(((low_digit + high_digit) / 2) as u8);
    } else if high_rest.is_some_and(|h| h.len() > 1) {
        // `high` continues past this digit, so the digit alone sorts below it and above `low`.
        out.push(high_digit as u8);
    } else {
        out.push(low_digit as u8);
        out.extend(fraction_between(low_rest.get(1..).unwrap_or(&[]), None));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_keys_stay_short_and_ordered() {
        let mut last = after(None);
        assert_eq!(last.len(), 9);
        for _ in 0..100_000 {
            let next = after(Some(&last));
            assert!(next > last, "{next} > {last}");
            last = next;
        }
        assert_eq!(last.len(), 9);
    }

    #[test]
    fn keys_before_the_first_keep_sorting_before_it() {
        let mut first = after(None);
        for _ in 0..1_000 {
            let earlier = before(&first);
            assert!(earlier < first);
            first = earlier;
        }
        assert!(first.len() <= 9);
    }

    #[test]
    fn a_key_between_two_neighbours_sorts_between_them() {
        let a = after(None);
        let b = after(Some(&a));
        let mut low = a.clone();
        let mut high = b.clone();
        // Alternate sides so both branches of the midpoint search run.
        for i in 0..200 {
            let mid = between(Some(&low), Some(&high));
            assert!(low < mid && mid < high, "{low} < {mid} < {high}");
            assert!(!mid.ends_with('0'));
            if i % 2 == 0 {
                low = mid;
            } else {
                high = mid;
            }
        }
    }

    #[test]
    fn between_works_across_integer_lengths_and_open_ends() {
        let small = encode_int(35);
        let big = encode_int(36);
        assert!(small < big);
        let mid = between(Some(&small), Some(&big));
        assert!(small < mid && mid < big);
        let top = between(None, Some(&small));
        assert!(top < small);
        let bottom = between(Some(&big), None);
        assert!(bottom > big);
        let far = between(Some(&encode_int(10)), Some(&encode_int(20)));
        assert_eq!(far, encode_int(11));
    }

    /// Found by the `position_keys` fuzz target: `before("a0")` answered `a00i`, which sorts
    /// after `a0`. Nothing sorts before the smallest key, so the answer is the respace signal.
    #[test]
    fn nothing_sorts_before_the_smallest_key_so_the_answer_asks_for_a_respace() {
        let smallest = encode_int(0);
        assert_eq!(smallest, "a0");
        let key = between(None, Some(&smallest));
        assert!(key.len() > MAX_KEY_LEN, "{key}");
        // One step up, there is room.
        let key = before("a1");
        assert_eq!(key, "a0");
    }

    #[test]
    fn spread_keys_are_short_and_ordered() {
        let keys = spread(1000);
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.iter().all(|k| k.len() == 9));
    }
}
