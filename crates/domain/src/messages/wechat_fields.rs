//! WeChat's rules for the fields of template and subscribe messages (protocols-wave2.md §5).
//! A field's key names its type (`thing1`, `character_string21`, `time20`) and the type
//! selects the rule; a value that breaks it is refused with 47003 and the notice is lost
//! on that channel. [`check`] is the rule itself (the simulator refuses with it, the tests
//! hold every scene to it); [`fit`] makes a rendered value meet it while keeping what it
//! means — the start of a sentence, whole items of a list, both halves of "科室 医生", a
//! time in WeChat's own notation — and says when something was left out, so the message
//! can open the page that has all of it.
//!
//! The counting unit is undocumented: Unicode scalar values, as protocols-wave2 assumes [I].
use std::fmt;

/// The type a field key's prefix selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// ≤20 characters of anything printable.
    Thing,
    /// ≤32 digits, a decimal point allowed.
    Number,
    /// ≤32 letters.
    Letter,
    /// ≤5 symbols.
    Symbol,
    /// ≤32 digits, letters and symbols; no Chinese.
    CharacterString,
    /// A 24-hour time with an optional date before it; a range joined by `~`.
    Time,
    /// A date (y年m月d日, y年m月, m月d日 or with `-` `/` `.`), an optional time; `~` ranges.
    Date,
    /// One currency symbol, ≤10 digits, decimals, optionally 元 at the end.
    Amount,
    /// ≤17 digits and symbols.
    PhoneNumber,
    /// ≤8: first and last may be Chinese, the rest letters and digits.
    CarNumber,
    /// ≤10 Chinese characters, or ≤20 letters and symbols.
    Name,
    /// ≤5 Chinese characters only.
    Phrase,
    /// Types without a documented rule (enum, const): only line breaks are refused.
    Other,
}

impl FieldKind {
    /// The type of a data key: its letters before the trailing number.
    pub fn of_key(key: &str) -> Self {
        match key.trim_end_matches(|c: char| c.is_ascii_digit()) {
            "thing" => Self::Thing,
            "number" => Self::Number,
            "letter" => Self::Letter,
            "symbol" => Self::Symbol,
            "character_string" => Self::CharacterString,
            "time" => Self::Time,
            "date" => Self::Date,
            "amount" => Self::Amount,
            "phone_number" => Self::PhoneNumber,
            "car_number" => Self::CarNumber,
            "name" => Self::Name,
            "phrase" => Self::Phrase,
            _ => Self::Other,
        }
    }

    /// The rule in the words staff read when a template breaks it.
    pub fn rule_zh(self) -> &'static str {
        match self {
            Self::Thing => "20个字以内",
            Self::Number => "32位以内的数字，可带小数点",
            Self::Letter => "32个以内的英文字母",
            Self::Symbol => "5个以内的符号",
            Self::CharacterString => "32位以内的字母、数字或符号，不能有中文",
            Self::Time => "24小时制时间，可带日期，例如“2026年12月7日 09:30”，时段用“~”连接",
            Self::Date => "日期，例如“2026年12月7日”，可带时间，时段用“~”连接",
            Self::Amount => "金额，例如“¥12.50”（一个币种符号加10位以内数字）",
            Self::PhoneNumber => "17位以内的数字和符号",
            Self::CarNumber => "8位以内的车牌号",
            Self::Name => "10个以内汉字或20个以内字母",
            Self::Phrase => "5个以内的汉字，不能有数字和符号",
            Self::Other => "不能换行",
        }
    }
}

/// A value WeChat would refuse (47003), and the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub key: String,
    pub kind: FieldKind,
}

impl fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "字段 {} 应为{}", self.key, self.kind.rule_zh())
    }
}

/// A value made to meet its rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fitted {
    pub value: String,
    /// Something of the original was left out (not merely written another way): the
    /// reader needs the full text elsewhere.
    pub shortened: bool,
}

/// A Chinese character (CJK ideographs, their extensions and compatibility forms, 〇).
pub fn is_han(c: char) -> bool {
    matches!(c, '\u{3007}' | '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FA1F}')
}

/// WeChat's "symbol": printable, neither Chinese nor a letter nor a digit.
fn is_symbol(c: char) -> bool {
    !c.is_control() && !is_han(c) && !c.is_alphanumeric()
}

fn len(s: &str) -> usize {
    s.chars().count()
}

/// Whether a value meets its field's rule.
pub fn check(key: &str, value: &str) -> Result<(), FieldViolation> {
    if meets(FieldKind::of_key(key), value) { Ok(()) } else { Err(FieldViolation { key: key.to_owned(), kind: FieldKind::of_key(key) }) }
}

fn meets(kind: FieldKind, v: &str) -> bool {
    if v.chars().any(char::is_control) || v.contains(['\u{2028}', '\u{2029}']) {
        return false;
    }
    let n = len(v);
    match kind {
        FieldKind::Thing => (1..=20).contains(&n),
        FieldKind::Number => (1..=32).contains(&n) && is_decimal(v),
        FieldKind::Letter => (1..=32).contains(&n) && v.chars().all(|c| c.is_ascii_alphabetic()),
        FieldKind::Symbol => (1..=5).contains(&n) && v.chars().all(is_symbol),
        FieldKind::CharacterString => (1..=32).contains(&n) && v.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        FieldKind::Time => parse_range(v, false).is_some(),
        FieldKind::Date => parse_range(v, true).is_some(),
        FieldKind::Amount => is_amount(v),
        FieldKind::PhoneNumber => {
            (1..=17).contains(&n) && v.chars().any(|c| c.is_ascii_digit()) && v.chars().all(|c| c.is_ascii_digit() || (c.is_ascii() && is_symbol(c)))
        }
        FieldKind::CarNumber => {
            let cs: Vec<char> = v.chars().collect();
            (1..=8).contains(&n) && cs.iter().enumerate().all(|(i, c)| c.is_ascii_alphanumeric() || (is_han(*c) && (i == 0 || i == n - 1)))
        }
        FieldKind::Name => {
            let chinese = !v.is_ascii();
            (1..=if chinese { 10 } else { 20 }).contains(&n) && !v.chars().any(|c| c.is_ascii_digit())
        }
        FieldKind::Phrase => (1..=5).contains(&n) && v.chars().all(is_han),
        FieldKind::Other => true,
    }
}

fn is_decimal(v: &str) -> bool {
    let (int, frac) = v.split_once('.').unwrap_or((v, "0"));
    !int.is_empty() && !frac.is_empty() && int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit())
}

const CURRENCY: [char; 5] = ['¥', '￥', '$', '€', '£'];

fn is_amount(v: &str) -> bool {
    let Some(rest) = v.strip_prefix(CURRENCY) else { return false };
    let rest = rest.strip_suffix('元').unwrap_or(rest);
    let (int, frac) = rest.split_once('.').unwrap_or((rest, "0"));
    (1..=10).contains(&int.len()) && (1..=2).contains(&frac.len()) && is_decimal(rest)
}

/// A point in WeChat's notation: an optional date, an optional time (at least one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Point {
    date: Option<(Option<u32>, Option<u32>, Option<u32>)>,
    time: Option<(u32, u32, Option<u32>)>,
}

impl Point {
    fn to_wechat(self) -> String {
        let mut s = String::new();
        if let Some((y, m, d)) = self.date {
            if let Some(y) = y {
                s.push_str(&format!("{y}年"));
            }
            if let Some(m) = m {
                s.push_str(&format!("{m}月"));
            }
            if let Some(d) = d {
                s.push_str(&format!("{d}日"));
            }
        }
        if let Some((h, mi, sec)) = self.time {
            if !s.is_empty() {
                s.push(' ');
            }
            s.push_str(&format!("{h:02}:{mi:02}"));
            if let Some(sec) = sec {
                s.push_str(&format!(":{sec:02}"));
            }
        }
        s
    }
}

fn number(s: &str, digits: std::ops::RangeInclusive<usize>) -> Option<u32> {
    (digits.contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse().ok()).flatten()
}

fn parse_clock(s: &str) -> Option<(u32, u32, Option<u32>)> {
    let parts: Vec<&str> = s.split(':').collect();
    let h = number(parts.first()?, 1..=2).filter(|h| *h < 24)?;
    let m = number(parts.get(1)?, 2..=2).filter(|m| *m < 60)?;
    let sec = match parts.get(2) {
        Some(p) => Some(number(p, 2..=2).filter(|s| *s < 60)?),
        None => None,
    };
    (parts.len() <= 3).then_some((h, m, sec))
}

type DateParts = (Option<u32>, Option<u32>, Option<u32>);

fn valid_date((y, m, d): DateParts) -> Option<DateParts> {
    let ok = y.is_none_or(|y| (1000..=9999).contains(&y)) && m.is_none_or(|m| (1..=12).contains(&m)) && d.is_none_or(|d| (1..=31).contains(&d));
    (ok && (y.is_some() || m.is_some())).then_some((y, m, d))
}

/// y年m月d日, y年m月, m月d日.
fn parse_chinese_date(s: &str) -> Option<DateParts> {
    let (y, rest) = match s.split_once('年') {
        Some((y, rest)) => (Some(number(y, 4..=4)?), rest),
        None => (None, s),
    };
    let (m, rest) = rest.split_once('月')?;
    let m = number(m, 1..=2)?;
    let d = match rest {
        "" => None,
        r => Some(number(r.strip_suffix('日')?, 1..=2)?),
    };
    if y.is_none() && d.is_none() {
        return None;
    }
    valid_date((y, Some(m), d))
}

/// 2018-01-01, 2018/01/01, 2018.01.01, 2018-01, 01-01.
fn parse_numeric_date(s: &str) -> Option<DateParts> {
    let sep = ['-', '/', '.'].into_iter().find(|c| s.contains(*c))?;
    let parts: Vec<&str> = s.split(sep).collect();
    match parts.as_slice() {
        [y, m, d] => valid_date((Some(number(y, 4..=4)?), Some(number(m, 1..=2)?), Some(number(d, 1..=2)?))),
        [a, b] if a.len() == 4 => valid_date((Some(number(a, 4..=4)?), Some(number(b, 1..=2)?), None)),
        [m, d] => valid_date((None, Some(number(m, 1..=2)?), Some(number(d, 1..=2)?))),
        _ => None,
    }
}

fn parse_date(s: &str) -> Option<DateParts> {
    if s.contains('月') { parse_chinese_date(s) } else { parse_numeric_date(s) }
}

/// One end of a range. A `time` needs the clock (the date is optional); a `date` needs
/// the date (the clock is optional).
fn parse_point(s: &str, date_first: bool) -> Option<Point> {
    let s = s.trim();
    if let Some(t) = parse_clock(s) {
        return (!date_first).then_some(Point { date: None, time: Some(t) });
    }
    // "2019年10月1日 15:01", "2019年10月1日15:01", "2026-12-07 08:30".
    let split = s.find(' ').map(|i| (&s[..i], &s[i + 1..])).or_else(|| s.find('日').map(|i| (&s[..i + '日'.len_utf8()], &s[i + '日'.len_utf8()..])));
    match split {
        Some((d, t)) if !t.trim().is_empty() => Some(Point { date: Some(parse_date(d.trim())?), time: Some(parse_clock(t.trim())?) }),
        _ if date_first => Some(Point { date: Some(parse_date(s)?), time: None }),
        _ => None,
    }
}

fn parse_range(v: &str, date_first: bool) -> Option<Vec<Point>> {
    let parts: Vec<&str> = v.split('~').collect();
    if parts.len() > 2 || v.trim() != v {
        return None;
    }
    let first = parse_point(parts[0], date_first)?;
    let mut out = vec![first];
    if let Some(end) = parts.get(1) {
        // The end of a time range may be a bare clock ("09:00~09:30").
        out.push(parse_point(end, date_first).or_else(|| parse_point(end, false))?);
    }
    Some(out)
}

/// Rewrites a time or date written as systems write them ("2026-12-07 08:30",
/// "2026-12-07T08:30:00", "08:00-08:30") in WeChat's notation.
fn to_wechat_time(v: &str, date_first: bool) -> Option<String> {
    let v = v.trim();
    // An instant with an offset is shown on the hospital's wall clock.
    let v = match chrono::DateTime::parse_from_rfc3339(v) {
        Ok(t) => crate::clock::to_local(t.with_timezone(&chrono::Utc)).format("%Y-%m-%d %H:%M:%S").to_string(),
        Err(_) => v.replacen('T', " ", 1),
    };
    let (a, b) = match v.split_once('~') {
        Some((a, b)) => (a, Some(b)),
        // "08:00-08:30" or "2026-12-07 08:00-08:30": a dash after the clock joins a range.
        None => match v.find(':').and_then(|i| v[i..].find('-').map(|j| i + j)) {
            Some(dash) => (&v[..dash], Some(&v[dash + 1..])),
            None => (v.as_str(), None),
        },
    };
    let mut points = vec![parse_point(a, date_first)?];
    if let Some(b) = b {
        points.push(parse_point(b, date_first).or_else(|| parse_point(b, false))?);
    }
    Some(points.into_iter().map(Point::to_wechat).collect::<Vec<_>>().join("~"))
}

/// Line breaks and control characters become spaces; runs of space become one.
fn one_line(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars().map(|c| if c.is_control() || c == '\u{2028}' || c == '\u{2029}' || c.is_whitespace() { ' ' } else { c }) {
        if !(c == ' ' && (out.is_empty() || out.ends_with(' '))) {
            out.push(c);
        }
    }
    out.trim_end().to_owned()
}

/// Makes a value meet its field's rule, keeping its meaning; an error when it cannot be
/// done without saying something false (a time that is not one, a negative amount).
pub fn fit(key: &str, value: &str) -> Result<Fitted, FieldViolation> {
    let kind = FieldKind::of_key(key);
    let refuse = || FieldViolation { key: key.to_owned(), kind };
    let v = one_line(value);
    let keep = |value: String| Fitted { value, shortened: false };
    let fitted = match kind {
        FieldKind::Thing if v.is_empty() => keep("—".into()),
        FieldKind::Thing => {
            let s = shorten(&v, 20);
            Fitted { shortened: s != v, value: s }
        }
        FieldKind::Time | FieldKind::Date => keep(to_wechat_time(&v, kind == FieldKind::Date).ok_or_else(refuse)?),
        FieldKind::Amount => {
            let bare: String = v.chars().filter(|c| !CURRENCY.contains(c) && *c != '元' && *c != ',' && *c != ' ').collect();
            keep(format!("¥{bare}"))
        }
        FieldKind::Number => keep(v.chars().filter(|c| *c != ',' && *c != ' ').collect()),
        FieldKind::CharacterString => {
            let ascii: String = v.chars().filter(|c| c.is_ascii_graphic() || *c == ' ').collect::<String>().trim().to_owned();
            if len(&ascii) > 32 { Fitted { value: format!("{}...", &ascii[..29]), shortened: true } } else { Fitted { shortened: ascii != v, value: ascii } }
        }
        FieldKind::PhoneNumber => keep(v.chars().filter(|c| c.is_ascii_digit() || matches!(c, '+' | '-' | '(' | ')')).collect()),
        FieldKind::Name => {
            let limit = if v.is_ascii() { 20 } else { 10 };
            if len(&v) > limit { Fitted { value: v.chars().take(limit - 1).chain(['…']).collect(), shortened: true } } else { keep(v) }
        }
        FieldKind::Phrase => {
            let han: String = v.chars().filter(|c| is_han(*c)).collect();
            let five: String = han.chars().take(5).collect();
            Fitted { shortened: five != v, value: five }
        }
        FieldKind::Letter | FieldKind::Symbol | FieldKind::CarNumber | FieldKind::Other => keep(v),
    };
    check(key, &fitted.value)?;
    Ok(fitted)
}

const CLAUSE_ENDS: [char; 8] = ['，', '。', '；', '！', '？', ',', ';', '：'];

/// Shortens free text to `limit` characters keeping its meaning: whole items of a
/// "、" list with 等N项, each half of "科室 医生" trimmed in proportion, else the text
/// up to a clause end, else its beginning — an ellipsis wherever words were dropped.
pub fn shorten(v: &str, limit: usize) -> String {
    if len(v) <= limit {
        return v.to_owned();
    }
    let ellipsis = |s: &str, n: usize| -> String { s.chars().take(n.saturating_sub(1)).chain(['…']).collect() };
    // An enumeration: keep whole items ("阿莫西林胶囊、布洛芬等3项").
    let items: Vec<&str> = v.split('、').collect();
    if items.len() > 1 && !v.contains(CLAUSE_ENDS) {
        for k in (1..items.len()).rev() {
            let s = format!("{}等{}项", items[..k].join("、"), items.len());
            if len(&s) <= limit {
                return s;
            }
        }
    }
    // Parts separated by a space ("心血管内科 王建国"): trim the longest until it fits.
    let parts: Vec<&str> = v.split(' ').filter(|p| !p.is_empty()).collect();
    if (2..=3).contains(&parts.len()) {
        let mut lens: Vec<usize> = parts.iter().map(|p| len(p)).collect();
        let budget = limit - (parts.len() - 1);
        while lens.iter().sum::<usize>() > budget {
            let (i, l) = lens.iter().copied().enumerate().max_by_key(|(_, l)| *l).expect("parts");
            if l <= 3 {
                break;
            }
            lens[i] -= 1;
        }
        if lens.iter().sum::<usize>() <= budget {
            return parts.iter().zip(&lens).map(|(p, l)| if len(p) > *l { ellipsis(p, *l) } else { (*p).to_owned() }).collect::<Vec<_>>().join(" ");
        }
    }
    // A sentence: stop at the last clause end that leaves at least half the room used.
    let cs: Vec<char> = v.chars().collect();
    if let Some(end) = (limit / 3..limit).rev().find(|i| CLAUSE_ENDS.contains(&cs[*i])) {
        return cs[..end].iter().chain(['…'].iter()).collect();
    }
    ellipsis(v, limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted(key: &str, v: &str) -> String {
        fit(key, v).unwrap_or_else(|e| panic!("{v}: {e}")).value
    }

    #[test]
    fn the_key_prefix_selects_the_rule() {
        assert_eq!(FieldKind::of_key("thing1"), FieldKind::Thing);
        assert_eq!(FieldKind::of_key("character_string21"), FieldKind::CharacterString);
        assert_eq!(FieldKind::of_key("phone_number3"), FieldKind::PhoneNumber);
        assert_eq!(FieldKind::of_key("time20"), FieldKind::Time);
        assert_eq!(FieldKind::of_key("first"), FieldKind::Other);
    }

    #[test]
    fn the_documented_examples_pass_and_their_neighbours_fail() {
        for (k, v) in [
            ("thing1", "心血管内科 王建国"),
            ("number1", "12.5"),
            ("letter1", "abc"),
            ("symbol1", "-/"),
            ("character_string1", "R2026-0012_A"),
            ("time1", "15:01"),
            ("time1", "2019年10月1日 15:01"),
            ("time1", "2019年10月1日 15:01~15:30"),
            ("time1", "15:01:22"),
            ("date1", "2018年1月1日"),
            ("date1", "2018-01-01"),
            ("date1", "2018/01/01"),
            ("date1", "2018.01.01"),
            ("date1", "2018-01"),
            ("date1", "01-01"),
            ("date1", "2018年1月"),
            ("date1", "1月1日"),
            ("date1", "2018年1月1日 08:00~2018年1月2日 08:00"),
            ("amount1", "¥12.50"),
            ("amount1", "¥100元"),
            ("phone_number1", "+86-0766-66888866"),
            ("car_number1", "粤A8Z888挂"),
            ("name1", "王建国"),
            ("name1", "Wang Jianguo"),
            ("phrase1", "配送中"),
        ] {
            assert_eq!(check(k, v), Ok(()), "{k} {v}");
        }
        for (k, v) in [
            ("thing1", ""),
            ("thing1", "一二三四五六七八九十一二三四五六七八九十一"),
            ("thing1", "两行\n文字"),
            ("number1", "12a"),
            ("number1", "1.2.3"),
            ("letter1", "ab1"),
            ("symbol1", "abc"),
            ("character_string1", "3号窗口"),
            ("character_string1", &"A".repeat(33)),
            ("time1", "明天上午"),
            ("time1", "2026-12-07 8:5"),
            ("time1", "25:00"),
            ("time1", "08:00-08:30"),
            ("date1", "2018年13月1日"),
            ("amount1", "12.50"),
            ("amount1", "¥-631.00"),
            ("amount1", "¥12345678901"),
            ("amount1", "¥1.234"),
            ("phone_number1", "0755-8336 转 8"),
            ("phone_number1", "+86-0755-8336638812345"),
            ("car_number1", "粤A8Z中88挂"),
            ("name1", "王建国王建国王建国王建"),
            ("name1", "王1"),
            ("phrase1", "已经完成了吗"),
            ("phrase1", "完成!"),
        ] {
            assert!(check(k, v).is_err(), "{k} {v:?} should break its rule");
        }
    }

    #[test]
    fn times_are_written_in_wechats_notation() {
        assert_eq!(fitted("time2", "2026-12-07 08:30"), "2026年12月7日 08:30");
        assert_eq!(fitted("time2", "2026-12-07 08:00-08:30"), "2026年12月7日 08:00~08:30");
        assert_eq!(fitted("time2", "2026-12-07T08:30:00+08:00"), "2026年12月7日 08:30:00");
        assert_eq!(fitted("time2", "08:00"), "08:00");
        assert_eq!(fitted("date2", "2026-12-07"), "2026年12月7日");
        assert!(fit("time2", "").is_err());
        assert!(fit("time2", "明天").is_err());
        assert!(fit("time2", "2026-12-07").is_err(), "a time field needs the clock");
    }

    #[test]
    fn amounts_get_their_currency_sign_and_nothing_false_is_sent() {
        assert_eq!(fitted("amount1", "12.50"), "¥12.50");
        assert_eq!(fitted("amount1", "1,234.00元"), "¥1234.00");
        assert!(fit("amount1", "-631.00").is_err(), "a negative amount is no amount");
    }

    #[test]
    fn shortening_keeps_the_meaning() {
        // Each half of 科室 医生 keeps its start; the doctor is not cut away.
        let s = fitted("thing1", "儿童青少年心理与行为发育障碍专科门诊 王建国");
        assert_eq!(s, "儿童青少年心理与行为发育障碍专… 王建国");
        assert!(len(&s) <= 20);
        // Whole list items and how many there were.
        assert_eq!(fitted("thing2", "阿莫西林胶囊、布洛芬缓释胶囊、蒙脱石散、维生素C片"), "阿莫西林胶囊、布洛芬缓释胶囊等4项");
        // A sentence stops at a clause end.
        assert_eq!(fitted("thing3", "检查前请空腹8小时，携带既往检查报告和医保卡，提前15分钟到达"), "检查前请空腹8小时…");
        assert_eq!(fitted("thing3", "请于12月7日16:30前到门诊楼1层检验科B区3号窗口重新采血，无需再次缴费。"), "请于12月7日16:30前到门诊楼1层…");
        assert!(fit("thing3", "请于12月7日16:30前到门诊楼1层检验科B区3号窗口重新采血").unwrap().shortened);
        assert!(!fit("thing3", "请及时补缴押金").unwrap().shortened);
        assert_eq!(fitted("thing1", ""), "—");
        assert_eq!(fitted("phrase1", "已经完成了吗"), "已经完成了");
        assert_eq!(fitted("name1", "阿卜杜热西提·买买提明江"), "阿卜杜热西提·买买…");
        let id = fit("character_string1", &"A".repeat(40)).unwrap();
        assert!(id.shortened && len(&id.value) == 32);
        assert_eq!(fitted("character_string1", "3号窗口"), "3");
    }

    #[test]
    fn line_breaks_become_one_space() {
        assert_eq!(fitted("thing1", "第一行\r\n\t第二行"), "第一行 第二行");
    }

    proptest::proptest! {
        /// Whatever a template renders, a fitted value is sendable or refused — never a
        /// value WeChat would turn away.
        #[test]
        fn a_fitted_value_always_meets_its_rule(key in proptest::sample::select(vec!["thing1", "character_string2", "phrase3", "name4", "time5", "date6", "amount7", "phone_number8", "number9"]), v in "\\PC{0,60}") {
            if let Ok(f) = fit(key, &v) {
                proptest::prop_assert_eq!(check(key, &f.value), Ok(()));
            }
        }

        #[test]
        fn shortened_text_starts_like_the_original(v in "[一-龥，、 ]{21,80}") {
            let s = shorten(v.trim(), 20);
            proptest::prop_assert!(len(&s) <= 20);
            let head: String = s.chars().take_while(|c| *c != '…' && *c != ' ' && *c != '等').collect();
            proptest::prop_assert!(v.trim().starts_with(&head), "{} → {}", v, s);
        }
    }
}
