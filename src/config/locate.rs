//! Maps between byte spans in the TOML text, line:column, and dotted field
//! paths, so every problem names the line and the field.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::error::Location;

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A dotted field path such as `queues[1].relax[0].after`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct FieldPath(Vec<Seg>);

impl FieldPath {
    pub(crate) fn key(&self, key: &str) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        FieldPath(segs)
    }

    pub(crate) fn index(&self, index: usize) -> FieldPath {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        FieldPath(segs)
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(document)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Index(n) => write!(f, "[{n}]")?,
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_bare_key(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// TOML bare keys (TOML 1.0 §Keys): A-Za-z0-9_- only.
fn is_bare_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Line and column (both 1-based, column in characters) of a byte offset.
pub(crate) fn location(text: &str, offset: usize) -> Location {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    Location { line, column }
}

/// The span of the field at `path`: its key where it has one, the element for
/// an array index. A path that does not exist (a defaulted field) resolves to
/// its longest existing prefix, so a missing field points at its table.
pub(crate) fn span_of(root: &Spanned<DeTable<'_>>, path: &FieldPath) -> Range<usize> {
    lookup(root, path).0
}

/// The span of the value at `path`, if the path exists.
pub(crate) fn value_span_of(root: &Spanned<DeTable<'_>>, path: &FieldPath) -> Option<Range<usize>> {
    lookup(root, path).1
}

fn lookup(root: &Spanned<DeTable<'_>>, path: &FieldPath) -> (Range<usize>, Option<Range<usize>>) {
    let mut best = root.span();
    let mut table = Some(root.get_ref());
    let mut array: Option<&[Spanned<DeValue<'_>>]> = None;
    for (n, seg) in path.0.iter().enumerate() {
        let value: &Spanned<DeValue<'_>> = match (seg, table, array) {
            (Seg::Key(k), Some(t), _) => match t.get_key_value(k.as_str()) {
                Some((key, value)) => {
                    best = key.span();
                    value
                }
                None => return (best, None),
            },
            (Seg::Index(i), _, Some(a)) => match a.get(*i) {
                Some(value) => {
                    best = value.span();
                    value
                }
                None => return (best, None),
            },
            _ => return (best, None),
        };
        table = value.get_ref().as_table();
        array = match value.get_ref() {
            DeValue::Array(a) => Some(&a[..]),
            _ => None,
        };
        if n + 1 == path.0.len() {
            return (best, Some(value.span()));
        }
    }
    (best, None)
}

/// For a syntax error the parser's recovered table may lack the broken
/// entry, so read the field off the text: the last `[table]` or
/// `[[array]]` header before `offset` and the key on the error's line.
pub(crate) fn path_from_text(text: &str, offset: usize) -> FieldPath {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[offset..].find('\n').map_or(text.len(), |i| offset + i);
    let mut path = FieldPath::default();
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut header: Option<(String, Option<usize>)> = None;
    for line in text[..line_start].lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("[[").and_then(|l| l.strip_suffix("]]")) {
            let name = name.trim().to_owned();
            let n = match counts.iter_mut().find(|(k, _)| *k == name) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counts.push((name.clone(), 0));
                    0
                }
            };
            header = Some((name, Some(n)));
        } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            header = Some((name.trim().to_owned(), None));
        }
    }
    if let Some((name, index)) = header {
        for part in name.split('.') {
            path = path.key(part.trim());
        }
        if let Some(i) = index {
            path = path.index(i);
        }
    }
    let line = &text[line_start..line_end];
    if let Some((key, _)) = line.split_once('=') {
        let key = key.trim();
        if !key.is_empty() && is_bare_key(&key.replace('.', "")) {
            for part in key.split('.') {
                path = path.key(part);
            }
        }
    }
    path
}

/// The deepest field whose key or value contains `offset`; used to name the
/// field of a parser or deserializer error, which only carries a span.
pub(crate) fn path_at(root: &Spanned<DeTable<'_>>, offset: usize) -> FieldPath {
    let mut path = FieldPath::default();
    descend_table(root.get_ref(), offset, &mut path);
    path
}

fn descend_table(table: &DeTable<'_>, offset: usize, path: &mut FieldPath) {
    for (key, value) in table.iter() {
        if key.span().contains(&offset) {
            path.0.push(Seg::Key(key.get_ref().to_string()));
            return;
        }
        if value.span().contains(&offset) || contains_deep(value, offset) {
            path.0.push(Seg::Key(key.get_ref().to_string()));
            descend_value(value, offset, path);
            return;
        }
    }
}

fn descend_value(value: &Spanned<DeValue<'_>>, offset: usize, path: &mut FieldPath) {
    match value.get_ref() {
        DeValue::Table(t) => descend_table(t, offset, path),
        DeValue::Array(a) => {
            for (i, elem) in a.iter().enumerate() {
                if elem.span().contains(&offset) || contains_deep(elem, offset) {
                    path.0.push(Seg::Index(i));
                    descend_value(elem, offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

/// `[[agents]]` tables span only their header, so look into their entries.
fn contains_deep(value: &Spanned<DeValue<'_>>, offset: usize) -> bool {
    if value.span().contains(&offset) {
        return true;
    }
    match value.get_ref() {
        DeValue::Table(t) => t
            .iter()
            .any(|(k, v)| k.span().contains(&offset) || contains_deep(v, offset)),
        DeValue::Array(a) => a.iter().any(|v| contains_deep(v, offset)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn location_counts_lines_and_characters_from_one() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(location(text, 0), Location { line: 1, column: 1 });
        assert_eq!(location(text, 6), Location { line: 2, column: 1 });
        // "bé = " is 6 bytes but 5 characters.
        assert_eq!(location(text, 12), Location { line: 2, column: 6 });
    }

    #[test]
    fn field_path_quotes_keys_that_are_not_bare() {
        let p = FieldPath::default().key("dids").key("+4930").key("queue");
        assert_eq!(p.to_string(), "dids.\"+4930\".queue");
        let p = FieldPath::default()
            .key("queues")
            .index(1)
            .key("relax")
            .index(0);
        assert_eq!(p.to_string(), "queues[1].relax[0]");
    }

    #[test]
    fn path_from_text_counts_array_tables_and_reads_the_key() {
        let text = "[[q]]\nname = \"a\"\n[[q]]\nname = \"b\nx = 1\n";
        let at = text.find("\"b").unwrap();
        assert_eq!(path_from_text(text, at).to_string(), "q[1].name");
        assert_eq!(path_from_text("[[[\n", 0).to_string(), "(document)");
    }

    #[test]
    fn path_at_and_span_of_agree_on_array_of_tables() {
        let text = "[[q]]\nname = \"a\"\n[[q]]\nname = \"b\"\nx = { y = 1 }\n";
        let root = DeTable::parse(text).expect("valid TOML");
        let y = text.find("y =").expect("y present");
        let path = path_at(&root, y);
        assert_eq!(path.to_string(), "q[1].x.y");
        assert_eq!(span_of(&root, &path).start, y);
        let missing = FieldPath::default().key("q").index(1).key("ring_timeout");
        assert_eq!(span_of(&root, &missing).start, text.rfind("[[q]]").unwrap());
    }
}
