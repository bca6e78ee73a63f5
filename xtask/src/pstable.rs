//! Reads the shell's `ps` tables back from the console, for the system tests.
//!
//! A table is a header line `PID TID NAME KIND STATE CPU TIME` (columns apart by blanks)
//! followed by one row per thread, up to the first line that is not a row. PID is `-` for
//! kernel threads and TIME is CPU seconds; a NAME may contain blanks.

const HEADER: [&str; 7] = ["PID", "TID", "NAME", "KIND", "STATE", "CPU", "TIME"];

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `None` for kernel and vCPU threads.
    pub pid: Option<u64>,
    pub tid: u64,
    pub name: String,
    pub kind: String,
    pub state: String,
    pub cpu: u32,
    pub seconds: f64,
}

fn parse_row(line: &str) -> Option<Row> {
    let cells: Vec<&str> = line.split_whitespace().collect();
    if cells.len() < HEADER.len() {
        return None;
    }
    let tail = &cells[cells.len() - 4..];
    let pid = match cells[0] {
        "-" => None,
        pid => Some(pid.parse().ok()?),
    };
    Some(Row {
        pid,
        tid: cells[1].parse().ok()?,
        name: cells[2..cells.len() - 4].join(" "),
        kind: tail[0].into(),
        state: tail[1].into(),
        cpu: tail[2].parse().ok()?,
        seconds: tail[3].parse().ok()?,
    })
}

/// Every `ps` table among the console lines, in order.
pub fn tables<S: AsRef<str>>(lines: &[S]) -> Vec<Vec<Row>> {
    let mut tables = Vec::new();
    let mut current: Option<Vec<Row>> = None;
    for line in lines {
        let line = line.as_ref();
        if line.split_whitespace().eq(HEADER) {
            tables.extend(current.replace(Vec::new()));
            continue;
        }
        if let Some(rows) = current.as_mut() {
            match parse_row(line) {
                Some(row) => rows.push(row),
                None => tables.extend(current.take()),
            }
        }
    }
    tables.extend(current);
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    const SESSION: &str = "\
keel> ps
PID  TID  NAME          KIND    STATE    CPU   TIME
  1    5  init          user    blocked    1   0.00
  7   11  spin          user    running    0   2.51
  -    1  idle0         kernel  running    1  12.34
  -    3  console feed  kernel  ready      1   0.00
keel> kill %1
keel> ps
PID  TID  NAME  KIND  STATE  CPU  TIME
  1    5  init  user  blocked  1  0.00
";

    #[test]
    fn reads_every_table() {
        let lines: Vec<&str> = SESSION.lines().collect();
        let tables = tables(&lines);
        assert_eq!(tables.len(), 2);
        assert_eq!(tables[0].len(), 4);
        assert_eq!(
            tables[0][1],
            Row {
                pid: Some(7),
                tid: 11,
                name: "spin".into(),
                kind: "user".into(),
                state: "running".into(),
                cpu: 0,
                seconds: 2.51
            }
        );
        assert_eq!(tables[0][2].pid, None);
        assert_eq!(tables[0][3].name, "console feed");
        assert_eq!(tables[1].len(), 1);
    }

    #[test]
    fn a_table_ends_at_the_first_line_that_is_not_a_row() {
        let lines = [
            "PID TID NAME KIND STATE CPU TIME",
            "1 5 init user blocked 1 0.00",
            "x 5 a b c 1 0.00",
            "2 6 sh user ready 0 0.00",
        ];
        assert_eq!(tables(&lines), vec![vec![parse_row(lines[1]).unwrap()]]);
        assert!(tables(&["no table here"]).is_empty());
        assert_eq!(tables(&["PID TID NAME KIND STATE CPU TIME"]), vec![Vec::new()]);
        assert_eq!(parse_row("1 5 user blocked 1 0.00"), None, "too few cells");
        assert_eq!(parse_row("1 5 init user blocked one 0.00"), None);
        assert_eq!(parse_row("1 5 init user blocked 1 soon"), None);
    }
}
