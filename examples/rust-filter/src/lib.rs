//! rules: a sluice filter written in Rust against sdk/ABI.md alone (no SDK,
//! no crates, no generated glue). It matches configurable patterns against
//! the envelope sender (mail stage), header fields and the raw body (data
//! stage), and rejects, tempfails, quarantines or tags the message.
//!
//! Config (the filter block's `config = {...}`, read with `config_read`):
//!
//! ```json
//! {"tag_header": "X-Sluice-Rules",
//!  "rules": [{"name": "pharma", "match": "header:Subject", "contains": ["viagra"],
//!             "action": "reject", "code": 550, "enhanced": "5.7.1", "text": "No thanks"},
//!            {"name": "wire", "match": "body", "contains": "wire transfer", "action": "tag"}]}
//! ```
//!
//! See README.md for every field.

mod json;

use json::{parse, quote, Json};

// ---- ABI v1 surface (sdk/ABI.md sections 1, 2 and 4) ----

const ABI_VERSION: i32 = 1;
const STAGE_MAIL: i32 = 8;
const STAGE_DATA: i32 = 32;

#[link(wasm_import_module = "sluice")]
extern "C" {
    #[link_name = "log"]
    fn host_log(level: i32, ptr: *const u8, len: i32);
    #[link_name = "config_read"]
    fn host_config_read(buf: *mut u8, cap: i32) -> i32;
    #[link_name = "body_read"]
    fn host_body_read(offset: i64, buf: *mut u8, cap: i32) -> i32;
}

const LOG_WARN: i32 = 3;
const LOG_ERROR: i32 = 4;

fn log(level: i32, msg: &str) {
    unsafe { host_log(level, msg.as_ptr(), msg.len() as i32) }
}

// One instance serves one event at a time, on one thread (ABI.md section 2),
// so plain statics are enough. EVENT is the buffer sluice_alloc hands out;
// RESULT must stay valid until the next call, so it lives here too.
static mut EVENT: Vec<u8> = Vec::new();
static mut RESULT: Vec<u8> = Vec::new();
static mut CONFIG: Option<Result<Config, String>> = None;

#[no_mangle]
pub extern "C" fn sluice_abi_version() -> i32 {
    ABI_VERSION
}

#[no_mangle]
pub extern "C" fn sluice_stages() -> i32 {
    STAGE_MAIL | STAGE_DATA
}

#[no_mangle]
pub extern "C" fn sluice_alloc(size: i32) -> i32 {
    unsafe {
        EVENT = vec![0u8; size.max(0) as usize];
        EVENT.as_mut_ptr() as i32
    }
}

#[no_mangle]
pub extern "C" fn sluice_on_event(ptr: i32, len: i32) -> i64 {
    let result = unsafe {
        // The host wrote the event into the buffer sluice_alloc returned.
        let ok = ptr == EVENT.as_ptr() as i32 && len as usize <= EVENT.len();
        let event: &[u8] = if ok { &EVENT[..len as usize] } else { &[] };
        handle(event)
    };
    unsafe {
        RESULT = result.into_bytes();
        ((RESULT.as_ptr() as u32 as i64) << 32) | RESULT.len() as i64
    }
}

/// Reads the whole config document: ask with an empty buffer for the size,
/// then again with a buffer that big.
fn read_config() -> Vec<u8> {
    let total = unsafe { host_config_read(std::ptr::null_mut(), 0) };
    if total <= 0 {
        return Vec::new();
    }
    let mut buf = vec![0u8; total as usize];
    let n = unsafe { host_config_read(buf.as_mut_ptr(), total) };
    buf.truncate(n.max(0).min(total) as usize);
    buf
}

// ---- rules ----

#[derive(Clone, Copy, PartialEq)]
enum Action {
    Reject,
    Tempfail,
    Quarantine,
    Tag,
}

enum Target {
    Sender,
    Header(String), // lower-case field name; "" = any field, matched as "name: value"
    Body,
}

struct Rule {
    name: String,
    target: Target,
    patterns: Vec<Vec<u8>>, // ASCII-lower-cased
    action: Action,
    code: Option<i64>,
    enhanced: Option<String>,
    text: Option<String>,
}

struct Config {
    tag_header: String,
    rules: Vec<Rule>,
}

fn config() -> &'static Result<Config, String> {
    unsafe {
        if CONFIG.is_none() {
            let c = load_config(&read_config());
            if let Err(e) = &c {
                log(LOG_ERROR, &format!("invalid config: {}", e));
            }
            CONFIG = Some(c);
        }
        CONFIG.as_ref().unwrap()
    }
}

fn load_config(raw: &[u8]) -> Result<Config, String> {
    let mut cfg = Config { tag_header: "X-Sluice-Rules".to_string(), rules: Vec::new() };
    if raw.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(cfg);
    }
    let doc = parse(raw)?;
    if let Some(h) = doc.get("tag_header").str() {
        if h.is_empty() || !h.bytes().all(|c| (33..=126).contains(&c) && c != b':') {
            return Err(format!("tag_header {:?} is not a header field name", h));
        }
        cfg.tag_header = h.to_string();
    }
    for (i, r) in doc.get("rules").arr().iter().enumerate() {
        let name = r.get("name").str().map(String::from).unwrap_or_else(|| format!("rule{}", i + 1));
        let m = r.get("match").str().unwrap_or("");
        let target = if m == "sender" {
            Target::Sender
        } else if m == "body" {
            Target::Body
        } else if m == "header" {
            Target::Header(String::new())
        } else if let Some(h) = m.strip_prefix("header:") {
            Target::Header(h.to_ascii_lowercase())
        } else {
            return Err(format!("rule {}: match {:?}: want sender, body, header or header:NAME", name, m));
        };
        let mut patterns = Vec::new();
        match r.get("contains") {
            Json::Str(s) => patterns.push(s.to_ascii_lowercase().into_bytes()),
            Json::Arr(a) => {
                for p in a {
                    match p.str() {
                        Some(s) => patterns.push(s.to_ascii_lowercase().into_bytes()),
                        None => return Err(format!("rule {}: contains holds a non-string", name)),
                    }
                }
            }
            _ => return Err(format!("rule {}: contains must be a string or a list of strings", name)),
        }
        if patterns.iter().any(|p| p.is_empty()) {
            return Err(format!("rule {}: empty pattern", name));
        }
        let action = match r.get("action").str().unwrap_or("tag") {
            "reject" => Action::Reject,
            "tempfail" => Action::Tempfail,
            "quarantine" => Action::Quarantine,
            "tag" => Action::Tag,
            a => return Err(format!("rule {}: action {:?}: want reject, tempfail, quarantine or tag", name, a)),
        };
        cfg.rules.push(Rule {
            name: printable(&name),
            target,
            patterns,
            action,
            code: r.get("code").num().map(|n| n as i64),
            enhanced: r.get("enhanced").str().map(String::from),
            text: r.get("text").str().map(printable),
        });
    }
    Ok(cfg)
}

/// Reply text and tag values must be printable US-ASCII (ABI.md 3.2), at most 512 bytes.
fn printable(s: &str) -> String {
    s.chars().map(|c| if (' '..='~').contains(&c) { c } else { '?' }).take(400).collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    needle.len() <= hay.len() && hay.windows(needle.len()).any(|w| w == needle)
}

fn lower(s: &str) -> Vec<u8> {
    s.as_bytes().to_ascii_lowercase()
}

/// Header values arrive raw with folding kept (CRLF + WSP): unfold them so
/// a pattern matches across a fold.
fn unfold(v: &str) -> String {
    v.replace("\r\n", "")
}

/// Scans the body through body_read once for every body pattern, carrying
/// the last bytes of each chunk over so a match may straddle chunks.
fn scan_body(rules: &[Rule]) -> Vec<bool> {
    let mut hit = vec![false; rules.len()];
    let longest = rules
        .iter()
        .filter(|r| matches!(r.target, Target::Body))
        .flat_map(|r| r.patterns.iter().map(|p| p.len()))
        .max()
        .unwrap_or(0);
    if longest == 0 {
        return hit;
    }
    let mut chunk = vec![0u8; 64 << 10];
    let mut window: Vec<u8> = Vec::new();
    let mut offset: i64 = 0;
    loop {
        let n = unsafe { host_body_read(offset, chunk.as_mut_ptr(), chunk.len() as i32) };
        if n < 0 {
            log(LOG_WARN, &format!("body_read failed with {}", n));
            break;
        }
        if n == 0 {
            break;
        }
        offset += n as i64;
        window.extend(chunk[..n as usize].iter().map(|c| c.to_ascii_lowercase()));
        for (i, r) in rules.iter().enumerate() {
            if !hit[i] && matches!(r.target, Target::Body) {
                hit[i] = r.patterns.iter().any(|p| contains(&window, p));
            }
        }
        let keep = longest - 1;
        if window.len() > keep {
            window.drain(..window.len() - keep);
        }
    }
    hit
}

// ---- events ----

fn handle(event: &[u8]) -> String {
    let ev = match parse(event) {
        Ok(ev) => ev,
        Err(e) => {
            log(LOG_ERROR, &format!("cannot parse the event: {}", e));
            return tempfail_misconfigured();
        }
    };
    let cfg = match config() {
        Ok(c) => c,
        Err(_) => return tempfail_misconfigured(),
    };
    match ev.get("stage").str() {
        Some("mail") => on_mail(cfg, &ev),
        Some("data") => on_data(cfg, &ev),
        _ => continue_result(None),
    }
}

fn tempfail_misconfigured() -> String {
    r#"{"action":"tempfail","code":451,"enhanced":"4.3.0","text":"Filter misconfigured, try again later"}"#.to_string()
}

fn on_mail(cfg: &Config, ev: &Json) -> String {
    let from = lower(ev.get("txn").get("from").str().unwrap_or(""));
    for r in &cfg.rules {
        if matches!(r.target, Target::Sender) && r.action != Action::Tag && r.action != Action::Quarantine {
            if r.patterns.iter().any(|p| contains(&from, p)) {
                return verdict(r);
            }
        }
    }
    continue_result(None)
}

fn on_data(cfg: &Config, ev: &Json) -> String {
    let msg = ev.get("message");
    let header = msg.get("header").arr();
    let from = lower(ev.get("txn").get("from").str().unwrap_or(""));
    let body_hits = scan_body(&cfg.rules);
    let mut tags: Vec<&str> = Vec::new();
    for (i, r) in cfg.rules.iter().enumerate() {
        let hit = match &r.target {
            Target::Body => body_hits[i],
            Target::Sender => r.patterns.iter().any(|p| contains(&from, p)),
            Target::Header(name) => header.iter().any(|f| {
                let fname = f.get("name").str().unwrap_or("");
                let value = unfold(f.get("value").str().unwrap_or(""));
                let hay = if name.is_empty() {
                    lower(&format!("{}: {}", fname, value))
                } else if fname.eq_ignore_ascii_case(name) {
                    lower(&value)
                } else {
                    return false;
                };
                r.patterns.iter().any(|p| contains(&hay, p))
            }),
        };
        if !hit {
            continue;
        }
        if r.action == Action::Tag {
            tags.push(&r.name);
        } else {
            return verdict(r);
        }
    }
    let mut changes = String::new();
    if !tags.is_empty() {
        changes.push_str(r#"{"headers":[{"op":"set","name":"#);
        quote(&mut changes, &cfg.tag_header);
        changes.push_str(r#","value":"#);
        quote(&mut changes, &tags.join(", "));
        changes.push_str("}]}");
    } else if header.iter().any(|f| f.get("name").str().map_or(false, |n| n.eq_ignore_ascii_case(&cfg.tag_header))) {
        // Not ours: a client may not forge the tag.
        changes.push_str(r#"{"headers":[{"op":"remove","name":"#);
        quote(&mut changes, &cfg.tag_header);
        changes.push_str("}]}");
    }
    continue_result(if changes.is_empty() { None } else { Some(&changes) })
}

fn continue_result(changes: Option<&str>) -> String {
    match changes {
        Some(c) => format!(r#"{{"action":"continue","changes":{}}}"#, c),
        None => r#"{"action":"continue"}"#.to_string(),
    }
}

fn verdict(r: &Rule) -> String {
    let mut out = String::from(r#"{"action":"#);
    let action = match r.action {
        Action::Reject => "reject",
        Action::Tempfail => "tempfail",
        Action::Quarantine => "quarantine",
        Action::Tag => "continue",
    };
    quote(&mut out, action);
    if r.action == Action::Reject || r.action == Action::Tempfail {
        if let Some(code) = r.code {
            out.push_str(&format!(r#","code":{}"#, code));
            if let Some(e) = &r.enhanced {
                out.push_str(r#","enhanced":"#);
                quote(&mut out, e);
            }
        }
    }
    let text = match &r.text {
        Some(t) => t.clone(),
        None => format!("Message refused by rule {}", r.name),
    };
    out.push_str(r#","text":"#);
    quote(&mut out, &text);
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_and_match() {
        let c = load_config(br#"{"rules":[{"name":"a","match":"header:Subject","contains":["ViAgRa"],"action":"reject"}]}"#)
            .ok()
            .unwrap();
        assert_eq!(c.rules.len(), 1);
        assert!(contains(&lower("Buy VIAGRA now"), &c.rules[0].patterns[0]));
        assert!(load_config(br#"{"rules":[{"match":"nowhere","contains":"x"}]}"#).is_err());
        assert_eq!(unfold("a\r\n b"), "a b");
        assert_eq!(printable("é\x07ok"), "??ok");
    }
}
