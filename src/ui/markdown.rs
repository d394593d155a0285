//! Markdown-aware display: which characters of a line are a heading, emphasis, code or a list
//! marker. Only styles are computed; the text itself is never changed.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Text,
    Heading,
    Emphasis,
    Strong,
    Code,
    Marker,
}

/// The span kind of every char of `line`; of a later segment of a very long line when
/// `continued`, which has no line start (a heading's hashes, a list marker) of its own.
pub fn spans(line: &str, continued: bool) -> Vec<Span> {
    let chars: Vec<char> = line.chars().collect();
    let mut out = vec![Span::Text; chars.len()];
    if continued {
        inline(&chars, 0, &mut out);
        return out;
    }
    let indent = chars
        .iter()
        .take_while(|c| **c == ' ' || **c == '\t')
        .count();
    let rest = &chars[indent..];

    let hashes = rest.iter().take_while(|c| **c == '#').count();
    if (1..=6).contains(&hashes) && rest.get(hashes).is_none_or(|c| *c == ' ') {
        out.iter_mut().for_each(|s| *s = Span::Heading);
        return out;
    }
    let marker_len = match rest {
        ['-' | '*' | '+' | '>', ' ', ..] => 1,
        _ => {
            let digits = rest.iter().take_while(|c| c.is_ascii_digit()).count();
            match rest.get(digits..digits + 2) {
                Some(['.' | ')', ' ']) if digits > 0 => digits + 1,
                _ => 0,
            }
        }
    };
    for s in &mut out[indent..indent + marker_len] {
        *s = Span::Marker;
    }
    inline(&chars, indent + marker_len, &mut out);
    out
}

/// `code`, **strong**, *emphasis* and _emphasis_, markers included.
fn inline(chars: &[char], from: usize, out: &mut [Span]) {
    let mut i = from;
    while i < chars.len() {
        let (open, kind): (&[char], Span) = match chars[i] {
            '`' => (&['`'], Span::Code),
            '*' if chars.get(i + 1) == Some(&'*') => (&['*', '*'], Span::Strong),
            '_' if chars.get(i + 1) == Some(&'_') => (&['_', '_'], Span::Strong),
            '*' => (&['*'], Span::Emphasis),
            '_' if i == 0 || !chars[i - 1].is_alphanumeric() => (&['_'], Span::Emphasis),
            _ => {
                i += 1;
                continue;
            }
        };
        let body = i + open.len();
        let close = (body + 1..=chars.len().saturating_sub(open.len()))
            .find(|&j| chars[j..j + open.len()] == *open && !chars[j - 1].is_whitespace());
        match close {
            Some(end) if !chars.get(body).is_some_and(|c| c.is_whitespace()) => {
                let stop = end + open.len();
                for s in &mut out[i..stop] {
                    *s = kind;
                }
                i = stop;
            }
            _ => i += open.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(line: &str) -> String {
        spans(line, false)
            .iter()
            .map(|s| match s {
                Span::Text => '.',
                Span::Heading => 'H',
                Span::Emphasis => 'e',
                Span::Strong => 'S',
                Span::Code => 'c',
                Span::Marker => 'm',
            })
            .collect()
    }

    #[test]
    fn headings_lists_and_inline_styles() {
        assert_eq!(shape("## 标题"), "HHHHH");
        assert_eq!(shape("#hashtag"), "........");
        assert_eq!(shape("- item"), "m.....");
        assert_eq!(shape("12. x"), "mmm..");
        assert_eq!(shape("a **b** c"), "..SSSSS..");
        assert_eq!(shape("an *em* x"), "...eeee..");
        assert_eq!(shape("use `x` now"), "....ccc....");
        assert_eq!(shape("2 * 3 * 4"), ".........");
        assert_eq!(shape("snake_case_name"), "...............");
    }
}
