//! Points quoted from the passage: a grammar for llama.cpp whose every point is one of the
//! passage's own sentences or clauses, in the passage's order, each once, so the model only
//! chooses which. For a list of key points from a passage in Chinese or Japanese, where the
//! default model's own words are mostly invented characters (measured on the quality
//! benchmark: half its Chinese lists malformed or not from the passage), a list of the
//! passage's own points says what the passage says.

/// Characters that end a sentence, and those that end a clause within one.
fn ends_sentence(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '；' | '!' | '?' | ';' | '\n')
}

fn ends_clause(c: char) -> bool {
    matches!(c, '，' | '、' | '：' | ',' | ':')
}

/// A point shorter than this (in characters) says too little; longer than the most, it would
/// run over a point's length (the benchmark's 20 words: 40 characters of Chinese).
const FEWEST_CHARS: usize = 4;
const MOST_CHARS: usize = 36;

/// A clause this short ("那年冬天", "出锅的时候") leads into the next: kept with it.
const LEAD_CHARS: usize = 8;

/// The most points the grammar offers: a long passage's first ones (its lead). The grammar
/// grows with their square.
const MOST_POINTS: usize = 32;

/// The passage's points, in order, each once: its sentences short enough to be one, and the
/// clauses of longer ones, a short leading clause kept with the one after it.
pub fn points(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |point: &str| {
        let point = point
            .trim()
            .trim_matches(['“', '”', '"', '「', '」'])
            .trim();
        let length = point.chars().count();
        if (FEWEST_CHARS..=MOST_CHARS).contains(&length) && !out.iter().any(|p| p == point) {
            out.push(point.to_string());
        }
    };
    for sentence in text.split(ends_sentence) {
        let sentence = sentence.trim().trim_end_matches(['.', '。']);
        if sentence.chars().count() <= MOST_CHARS {
            add(sentence);
            continue;
        }
        // Each clause with the mark that ends it, so a joined pair reads as written.
        let mut current = String::new();
        for clause in sentence.split_inclusive(ends_clause) {
            let plain = |s: &str| s.trim_end_matches(ends_clause).chars().count();
            if !current.is_empty()
                && (plain(&current) >= LEAD_CHARS || plain(&current) + plain(clause) > MOST_CHARS)
            {
                add(current.trim_end_matches(ends_clause));
                current.clear();
            }
            current.push_str(clause);
        }
        add(current.trim_end_matches(ends_clause));
    }
    out.truncate(MOST_POINTS);
    out
}

/// A grammar for a list begun with "- " (the prompt's prefill) of three or four of the
/// passage's points in its order; None when it has fewer than four to choose from.
pub fn list_grammar(text: &str) -> Option<String> {
    let points = points(text);
    let n = points.len();
    if n < 4 {
        return None;
    }
    let mut rules = Vec::new();
    let mut roots = Vec::new();
    for (i, point) in points.iter().enumerate() {
        let literal = point.replace('\\', "\\\\").replace('"', "\\\"");
        rules.push(format!("p{i} ::= \"{literal}\""));
        // `l{i}-{k}`: point i, then k more of those after it.
        for k in 1..=3 {
            if i + k < n {
                let next: Vec<String> = (i + 1..n - k + 1).map(|j| after(j, k - 1)).collect();
                rules.push(format!(
                    "l{i}-{k} ::= p{i} \"\\n- \" ({})",
                    next.join(" | ")
                ));
            }
        }
        if i + 2 < n {
            roots.push(format!("l{i}-2"));
        }
        if i + 3 < n {
            roots.push(format!("l{i}-3"));
        }
    }
    Some(format!(
        "root ::= {}\n{}\n",
        roots.join(" | "),
        rules.join("\n")
    ))
}

/// The rule for point `j` followed by `k` more.
fn after(j: usize, k: usize) -> String {
    if k == 0 {
        format!("p{j}")
    } else {
        format!("l{j}-{k}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_are_short_sentences_and_the_clauses_of_long_ones_each_once() {
        let text = "本市首条线路开通。全程约十二公里！那年冬天，村口的老槐树下总坐着一位卖烤红薯的老人，每天放学后我都会用攒下的零花钱买一个最小的红薯。全程约十二公里；“引号\\里”的话";
        assert_eq!(
            points(text),
            [
                "本市首条线路开通",
                "全程约十二公里",
                // A short lead goes with the clause after it.
                "那年冬天，村口的老槐树下总坐着一位卖烤红薯的老人",
                "每天放学后我都会用攒下的零花钱买一个最小的红薯",
                "引号\\里”的话",
            ]
        );
    }

    #[test]
    fn the_grammar_lists_three_or_four_points_in_order_each_once() {
        assert_eq!(list_grammar("一二三四。五六七八。九十百千。"), None);
        let grammar = list_grammar("一二三四。五六七八。九十百千。甲乙丙丁。").unwrap();
        let lines: Vec<&str> = grammar.lines().collect();
        // Four points: three from the first or second on, or all four.
        assert_eq!(lines[0], "root ::= l0-2 | l0-3 | l1-2");
        assert!(lines.contains(&"p3 ::= \"甲乙丙丁\""), "{grammar}");
        assert!(lines.contains(&"l0-3 ::= p0 \"\\n- \" (l1-2)"), "{grammar}");
        assert!(
            lines.contains(&"l1-1 ::= p1 \"\\n- \" (p2 | p3)"),
            "{grammar}"
        );
        // No point leads to itself or one before it.
        assert!(lines.contains(&"l2-1 ::= p2 \"\\n- \" (p3)"), "{grammar}");
    }
}
