//! A content-stream scanner that follows only what places images: the graphics-state stack
//! (`q`, `Q`), `cm`, `Do` and inline images (`BI` ... `ID` ... `EI`). Everything else is
//! skipped token by token, so memory is the operand list of one operator and the `q` stack.

/// A PDF transformation matrix `[a b c d e f]` (row-vector convention, as in the spec).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Matrix {
    a: f64,
    b: f64,
    c: f64,
    d: f64,
    e: f64,
    f: f64,
}

impl Matrix {
    pub(crate) const IDENTITY: Matrix = Matrix { a: 1.0, b: 0.0, c: 0.0, d: 1.0, e: 0.0, f: 0.0 };

    pub(crate) fn scale(s: f64) -> Matrix {
        Matrix { a: s, d: s, ..Matrix::IDENTITY }
    }

    pub(crate) fn from_slice(v: &[f64]) -> Option<Matrix> {
        match v {
            [a, b, c, d, e, f] => Some(Matrix { a: *a, b: *b, c: *c, d: *d, e: *e, f: *f }),
            _ => None,
        }
    }

    /// `self` applied first, then `outer` (`cm` with operand `self` on a CTM `outer`).
    pub(crate) fn then(&self, outer: &Matrix) -> Matrix {
        let (m, o) = (self, outer);
        Matrix {
            a: m.a * o.a + m.b * o.c,
            b: m.a * o.b + m.b * o.d,
            c: m.c * o.a + m.d * o.c,
            d: m.c * o.b + m.d * o.d,
            e: m.e * o.a + m.f * o.c + o.e,
            f: m.e * o.b + m.f * o.d + o.f,
        }
    }

    /// Length of the image's unit x side on the page, in user-space units (points).
    pub(crate) fn x_length(&self) -> f64 {
        self.a.hypot(self.b)
    }

    pub(crate) fn y_length(&self) -> f64 {
        self.c.hypot(self.d)
    }
}

/// An image drawn by the content.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Placed {
    Inline { width: f64, height: f64, ctm: Matrix },
    XObject { name: String, ctm: Matrix },
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Number(f64),
    Name(String),
    Other,
}

/// `q` nesting kept; deeper saves are counted but not stored.
const MAX_SAVED: usize = 4096;
const MAX_OPERANDS: usize = 32;

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'\0')
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

/// Calls `placed` for every image the content draws, with its CTM.
pub(crate) fn scan(ops: &[u8], ctm: Matrix, mut placed: impl FnMut(Placed)) {
    let mut s = Scanner { data: ops, i: 0 };
    let mut ctm = ctm;
    let mut saved: Vec<Matrix> = Vec::new();
    let mut unsaved_depth = 0usize;
    let mut operands: Vec<Operand> = Vec::new();
    while let Some(token) = s.next() {
        match token {
            Token::Operand(o) => {
                if operands.len() == MAX_OPERANDS {
                    operands.remove(0);
                }
                operands.push(o);
            }
            Token::Operator(op) => {
                match op {
                    b"q" => {
                        if saved.len() < MAX_SAVED {
                            saved.push(ctm);
                        } else {
                            unsaved_depth += 1;
                        }
                    }
                    b"Q" => {
                        if unsaved_depth > 0 {
                            unsaved_depth -= 1;
                        } else if let Some(m) = saved.pop() {
                            ctm = m;
                        }
                    }
                    b"cm" => {
                        let nums: Vec<f64> = operands
                            .iter()
                            .rev()
                            .take(6)
                            .filter_map(|o| if let Operand::Number(n) = o { Some(*n) } else { None })
                            .collect();
                        if nums.len() == 6 {
                            let v: Vec<f64> = nums.into_iter().rev().collect();
                            if let Some(m) = Matrix::from_slice(&v) {
                                ctm = m.then(&ctm);
                            }
                        }
                    }
                    b"Do" => {
                        if let Some(Operand::Name(name)) = operands.last() {
                            placed(Placed::XObject { name: name.clone(), ctm });
                        }
                    }
                    b"BI" => {
                        if let Some((width, height)) = s.inline_image() {
                            placed(Placed::Inline { width, height, ctm });
                        }
                    }
                    _ => {}
                }
                operands.clear();
            }
        }
    }
}

enum Token<'a> {
    Operand(Operand),
    Operator(&'a [u8]),
}

struct Scanner<'a> {
    data: &'a [u8],
    i: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<u8> {
        self.data.get(self.i).copied()
    }

    fn regular(&mut self) -> &'a [u8] {
        let start = self.i;
        while let Some(b) = self.peek() {
            if is_space(b) || is_delimiter(b) {
                break;
            }
            self.i += 1;
        }
        &self.data[start..self.i]
    }

    fn next(&mut self) -> Option<Token<'a>> {
        loop {
            let b = self.peek()?;
            match b {
                _ if is_space(b) => self.i += 1,
                b'%' => {
                    while let Some(c) = self.peek() {
                        if c == b'\n' || c == b'\r' {
                            break;
                        }
                        self.i += 1;
                    }
                }
                b'(' => {
                    self.skip_string();
                    return Some(Token::Operand(Operand::Other));
                }
                b'<' if self.data.get(self.i + 1) == Some(&b'<') => {
                    self.i += 2;
                    return Some(Token::Operand(Operand::Other));
                }
                b'<' => {
                    while let Some(c) = self.peek() {
                        self.i += 1;
                        if c == b'>' {
                            break;
                        }
                    }
                    return Some(Token::Operand(Operand::Other));
                }
                b'>' | b'[' | b']' | b'{' | b'}' | b')' => {
                    self.i += if b == b'>' && self.data.get(self.i + 1) == Some(&b'>') { 2 } else { 1 };
                    return Some(Token::Operand(Operand::Other));
                }
                b'/' => {
                    self.i += 1;
                    let raw = self.regular();
                    return Some(Token::Operand(Operand::Name(decode_name(raw))));
                }
                _ => {
                    let word = self.regular();
                    if word.is_empty() {
                        self.i += 1;
                        continue;
                    }
                    if matches!(word[0], b'0'..=b'9' | b'+' | b'-' | b'.') {
                        let n = std::str::from_utf8(word).ok().and_then(|s| s.parse::<f64>().ok());
                        return Some(Token::Operand(n.map_or(Operand::Other, Operand::Number)));
                    }
                    return Some(match word {
                        b"true" | b"false" | b"null" => Token::Operand(Operand::Other),
                        _ => Token::Operator(word),
                    });
                }
            }
        }
    }

    /// A literal string: balanced parentheses, backslash escapes.
    fn skip_string(&mut self) {
        let mut depth = 0usize;
        while let Some(c) = self.peek() {
            self.i += 1;
            match c {
                b'\\' => self.i += 1,
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// After `BI`: the image dictionary up to `ID`, then the data up to `EI`; the pixel size.
    fn inline_image(&mut self) -> Option<(f64, f64)> {
        let (mut width, mut height) = (None, None);
        let mut key: Option<String> = None;
        loop {
            match self.next()? {
                Token::Operator(b"ID") => break,
                Token::Operator(_) => {}
                Token::Operand(Operand::Name(n)) if key.is_none() => key = Some(n),
                Token::Operand(value) => {
                    if let (Some(k), Operand::Number(n)) = (key.take(), &value) {
                        match k.as_str() {
                            "W" | "Width" => width = Some(*n),
                            "H" | "Height" => height = Some(*n),
                            _ => {}
                        }
                    }
                }
            }
        }
        // One whitespace byte after ID, then binary data ending at whitespace + "EI".
        self.i += 1;
        while self.i + 2 <= self.data.len() {
            let at_ei = &self.data[self.i..self.i + 2] == b"EI"
                && self.i > 0
                && is_space(self.data[self.i - 1])
                && self.data.get(self.i + 2).is_none_or(|b| is_space(*b) || is_delimiter(*b));
            if at_ei {
                self.i += 2;
                break;
            }
            self.i += 1;
        }
        width.zip(height)
    }
}

/// `#xx` escapes in a name.
fn decode_name(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'#'
            && let Some(v) = raw
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(ops: &str) -> Vec<Placed> {
        let mut out = Vec::new();
        scan(ops.as_bytes(), Matrix::IDENTITY, |p| out.push(p));
        out
    }

    #[test]
    fn placements_follow_the_graphics_state_stack() {
        let placed = collect(
            "q 144 0 0 72 36 36 cm /Im1 Do Q\n\
             q 2 0 0 2 0 0 cm q 10 0 0 20 0 0 cm /Im#322 Do Q (a string with ) inside\\) ) Tj Q\n\
             /Im3 Do",
        );
        assert_eq!(
            placed,
            vec![
                Placed::XObject {
                    name: "Im1".into(),
                    ctm: Matrix { a: 144.0, b: 0.0, c: 0.0, d: 72.0, e: 36.0, f: 36.0 }
                },
                Placed::XObject {
                    name: "Im22".into(),
                    ctm: Matrix { a: 20.0, b: 0.0, c: 0.0, d: 40.0, e: 0.0, f: 0.0 }
                },
                Placed::XObject { name: "Im3".into(), ctm: Matrix::IDENTITY },
            ]
        );
    }

    #[test]
    fn inline_images_are_measured_and_their_data_skipped() {
        let placed =
            collect("q 72 0 0 72 0 0 cm BI /W 300 /H 150 /BPC 8 /CS /G ID \x00EI\x01Q q EI Q\nEI Q /X Do");
        assert_eq!(placed[0], Placed::Inline { width: 300.0, height: 150.0, ctm: Matrix::scale(72.0) });
        assert_eq!(placed[1], Placed::XObject { name: "X".into(), ctm: Matrix::IDENTITY });
        assert_eq!(placed.len(), 2);
    }

    #[test]
    fn rotation_keeps_lengths() {
        let r = Matrix { a: 0.0, b: 100.0, c: -50.0, d: 0.0, e: 0.0, f: 0.0 };
        assert_eq!((r.x_length(), r.y_length()), (100.0, 50.0));
        let scaled = Matrix::scale(2.0).then(&r);
        assert_eq!((scaled.x_length(), scaled.y_length()), (200.0, 100.0));
    }

    #[test]
    fn garbage_never_panics() {
        for s in
            ["(((", "<<<<", "BI /W", "BI /W 1 /H 2 ID", "q q q Q Q Q Q Q cm cm Do", "/", "#", "1e99999 cm"]
        {
            collect(s);
        }
    }
}
