//! Where each field of a YAML document is: a tree of positions built from parser events, so
//! errors found after deserialization can still name the line and column.

use serde_saphyr::granit_parser::{Event, Parser};

/// A 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A YAML node with its position, and for mappings the position of each key.
#[derive(Debug)]
pub(crate) enum Located {
    Map(Pos, Vec<(String, Pos, Located)>),
    Seq(Pos, Vec<Located>),
    Scalar(Pos),
}

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Key(String),
    Index(usize),
}

impl Located {
    /// Builds the tree; `None` when the text is not valid YAML (the typed parse reports that).
    pub(crate) fn parse(text: &str) -> Option<Located> {
        let mut events = Parser::new_from_str(text)
            .map_while(Result::ok)
            .filter(|(e, _)| {
                !matches!(
                    e,
                    Event::StreamStart
                        | Event::DocumentStart(..)
                        | Event::Anchor(..)
                        | Event::Comment(..)
                )
            })
            .peekable();
        build(&mut events)
    }

    fn pos(&self) -> Pos {
        match self {
            Located::Map(p, _) | Located::Seq(p, _) | Located::Scalar(p) => *p,
        }
    }

    /// The position of the value at `path`, or of the deepest ancestor found.
    pub(crate) fn find(&self, path: &[Step]) -> Pos {
        self.find_key(path).unwrap_or_else(|| self.find_value(path))
    }

    fn find_value(&self, path: &[Step]) -> Pos {
        let Some((step, rest)) = path.split_first() else {
            return self.pos();
        };
        match (self, step) {
            (Located::Map(_, entries), Step::Key(key)) => {
                match entries.iter().find(|(k, _, _)| k == key) {
                    Some((_, _, value)) => value.find_value(rest),
                    None => self.pos(),
                }
            }
            (Located::Seq(_, items), Step::Index(i)) => match items.get(*i) {
                Some(item) => item.find_value(rest),
                None => self.pos(),
            },
            _ => self.pos(),
        }
    }

    /// The position of the last key of `path` itself (where an unknown field is written).
    pub(crate) fn find_key_itself(&self, path: &[Step]) -> Option<Pos> {
        let (Step::Key(last), parents) = path.split_last()? else {
            return None;
        };
        match self.find_node(parents)? {
            Located::Map(_, entries) => entries
                .iter()
                .find(|(k, _, _)| k == last)
                .map(|(_, pos, _)| *pos),
            _ => None,
        }
    }

    fn find_node(&self, path: &[Step]) -> Option<&Located> {
        let mut node = self;
        for step in path {
            node = match (node, step) {
                (Located::Map(_, entries), Step::Key(key)) => {
                    &entries.iter().find(|(k, _, _)| k == key)?.2
                }
                (Located::Seq(_, items), Step::Index(i)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The position of the field at `path`: its value for scalars, its key for collections.
    pub(crate) fn find_key(&self, path: &[Step]) -> Option<Pos> {
        let (last, parents) = path.split_last()?;
        let mut node = self;
        for step in parents {
            node = match (node, step) {
                (Located::Map(_, entries), Step::Key(key)) => {
                    &entries.iter().find(|(k, _, _)| k == key)?.2
                }
                (Located::Seq(_, items), Step::Index(i)) => items.get(*i)?,
                _ => return None,
            };
        }
        match (node, last) {
            (Located::Map(_, entries), Step::Key(key)) => {
                let (_, key_pos, value) = entries.iter().find(|(k, _, _)| k == key)?;
                // Scalars point at the value, collections at their key.
                Some(if matches!(value, Located::Scalar(_)) {
                    value.pos()
                } else {
                    *key_pos
                })
            }
            (Located::Seq(_, items), Step::Index(i)) => Some(items.get(*i)?.pos()),
            _ => None,
        }
    }
}

fn pos_of(span: &serde_saphyr::granit_parser::Span) -> Pos {
    Pos {
        line: span.start.line(),
        column: span.start.col() + 1,
    }
}

type Events<'a, I> = std::iter::Peekable<I>;

fn build<'a, I: Iterator<Item = (Event<'a>, serde_saphyr::granit_parser::Span)>>(
    events: &mut Events<'a, I>,
) -> Option<Located> {
    let (event, span) = events.next()?;
    let pos = pos_of(&span);
    match event {
        Event::SequenceStart(..) => {
            let mut items = Vec::new();
            loop {
                if matches!(events.peek()?.0, Event::SequenceEnd) {
                    events.next();
                    return Some(Located::Seq(pos, items));
                }
                items.push(build(events)?);
            }
        }
        Event::MappingStart(..) => {
            let mut entries = Vec::new();
            loop {
                if matches!(events.peek()?.0, Event::MappingEnd) {
                    events.next();
                    return Some(Located::Map(pos, entries));
                }
                let key_pos = pos_of(&events.peek()?.1);
                let key = match &events.peek()?.0 {
                    Event::Scalar(key, ..) => Some(key.to_string()),
                    _ => None,
                };
                build(events)?;
                let value = build(events)?;
                if let Some(key) = key {
                    entries.push((key, key_pos, value));
                }
            }
        }
        _ => Some(Located::Scalar(pos)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_by_path() {
        let text = "version: v1\nnodes:\n  - id: a\n  - id: b\n    docker:\n      resource_limits: { memory_mb: 0 }\n";
        let tree = Located::parse(text).unwrap();
        let path = [
            Step::Key("nodes".into()),
            Step::Index(1),
            Step::Key("docker".into()),
            Step::Key("resource_limits".into()),
            Step::Key("memory_mb".into()),
        ];
        assert_eq!(
            tree.find(&path),
            Pos {
                line: 6,
                column: 37
            }
        );
        assert_eq!(
            tree.find(&[
                Step::Key("nodes".into()),
                Step::Index(1),
                Step::Key("id".into())
            ]),
            Pos { line: 4, column: 9 }
        );
    }
}
