//! Contact lists as CSV: a header row naming the columns, `number`
//! required, `name` and `timezone` optional, every other column kept as
//! data for the agent. Fields may be quoted (`"Smith, Jo"`, `""` for a
//! quote). Bad rows are reported by line and column name, never guessed.

use super::contact::Contact;
use super::dnc::{normalise, Numbering};
use super::tz::Zone;

/// Rows of one list at most.
pub const CONTACTS_MAX: usize = 1_000_000;
/// Columns of one list at most.
pub const COLUMNS_MAX: usize = 64;

/// A bad row: its 1-based line, the column, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListProblem {
    pub line: usize,
    pub field: String,
    pub message: String,
}

/// The contacts of `text`; rows with a problem are left out and reported.
/// A row without a time zone gets `zone`.
pub fn read_contacts(
    text: &str,
    zone: Zone,
    numbering: &Numbering,
) -> (Vec<Contact>, Vec<ListProblem>) {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let problem = |line: usize, field: &str, message: String| ListProblem {
        line,
        field: field.to_owned(),
        message,
    };
    let Some((_, header)) = lines.next() else {
        return (
            Vec::new(),
            vec![problem(
                1,
                "number",
                "the list is empty: a header row naming `number` comes first".into(),
            )],
        );
    };
    let columns: Vec<String> = split(header)
        .into_iter()
        .map(|c| c.trim().to_lowercase())
        .collect();
    let Some(number_at) = columns.iter().position(|c| c == "number") else {
        return (
            Vec::new(),
            vec![problem(
                1,
                "number",
                "the header row has no `number` column".into(),
            )],
        );
    };
    if columns.len() > COLUMNS_MAX {
        return (
            Vec::new(),
            vec![problem(
                1,
                "number",
                format!("{} columns, at most {COLUMNS_MAX}", columns.len()),
            )],
        );
    }
    let name_at = columns.iter().position(|c| c == "name");
    let zone_at = columns.iter().position(|c| c == "timezone");
    let mut contacts = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in lines {
        let line_no = i + 1;
        if contacts.len() >= CONTACTS_MAX {
            bad.push(problem(
                line_no,
                "number",
                format!("more than {CONTACTS_MAX} contacts"),
            ));
            break;
        }
        let fields = split(line);
        if fields.len() != columns.len() {
            bad.push(problem(
                line_no,
                "number",
                format!("{} fields, the header has {}", fields.len(), columns.len()),
            ));
            continue;
        }
        let number = match normalise(&fields[number_at], numbering) {
            Ok(n) => n,
            Err(e) => {
                bad.push(problem(line_no, "number", e.to_string()));
                continue;
            }
        };
        let zone = match zone_at.map(|z| fields[z].trim()).filter(|z| !z.is_empty()) {
            None => zone,
            Some(z) => match Zone::parse(z) {
                Some(z) => z,
                None => {
                    bad.push(problem(
                        line_no,
                        "timezone",
                        format!("unknown time zone {z:?}"),
                    ));
                    continue;
                }
            },
        };
        let name = name_at
            .map(|n| fields[n].trim().to_owned())
            .unwrap_or_default();
        let mut contact = Contact::new(number, name, zone);
        for (c, value) in columns.iter().zip(fields) {
            if !matches!(c.as_str(), "number" | "name" | "timezone") {
                contact.data.insert(c.clone(), value);
            }
        }
        contacts.push(contact);
    }
    (contacts, bad)
}

/// One CSV line's fields, quotes removed.
fn split(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_contacts_and_other_columns_are_kept() {
        let text = "number,name,timezone,account\n\
                    5550301,\"Smith, Jo\",Europe/London,A-17\n\
                    +1 555 0302,Bo,,\"say \"\"hi\"\"\"\n";
        let (contacts, bad) = read_contacts(text, Zone::UTC, &Numbering::default());
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(contacts.len(), 2);
        assert_eq!(contacts[0].number, "+15550301");
        assert_eq!(contacts[0].name, "Smith, Jo");
        assert_eq!(contacts[0].zone, Zone::parse("Europe/London").unwrap());
        assert_eq!(contacts[0].data["account"], "A-17");
        assert_eq!(contacts[1].zone, Zone::UTC);
        assert_eq!(contacts[1].data["account"], "say \"hi\"");
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_column() {
        let text =
            "number,timezone\nnot a number,UTC\n5550303,Mars/Base\n5550304\n5550305,+01:00\n";
        let (contacts, bad) = read_contacts(text, Zone::UTC, &Numbering::default());
        assert_eq!(contacts.len(), 1);
        let at: Vec<(usize, &str)> = bad.iter().map(|b| (b.line, b.field.as_str())).collect();
        assert_eq!(at, vec![(2, "number"), (3, "timezone"), (4, "number")]);
        let (_, bad) = read_contacts("name\nJo\n", Zone::UTC, &Numbering::default());
        assert_eq!(bad[0].line, 1);
        let (_, bad) = read_contacts("", Zone::UTC, &Numbering::default());
        assert_eq!(bad.len(), 1);
    }
}
