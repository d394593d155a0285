//! The UI's named styles. A built-in dark theme for now; `NO_COLOR` keeps only modifiers.

use ratatui::style::{Color, Modifier, Style};

#[derive(Debug, Clone)]
pub struct Theme {
    pub text: Style,
    pub heading: Style,
    pub emphasis: Style,
    pub strong: Style,
    pub code: Style,
    pub marker: Style,
    pub selection: Style,
    pub control: Style,
    pub status: Style,
    pub status_modified: Style,
    pub status_error: Style,
    pub prompt: Style,
    pub popup: Style,
    pub popup_title: Style,
    pub border: Style,
    pub border_focused: Style,
    pub diff_insert: Style,
    pub diff_delete: Style,
    pub muted: Style,
    pub ghost: Style,
}

impl Theme {
    /// The theme called `name`; `NO_COLOR` in the environment always gives the monochrome one.
    pub fn named(name: &str) -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        match name {
            _ if no_color => Theme::monochrome(),
            "mono" => Theme::monochrome(),
            _ => Theme::dark(),
        }
    }

    pub fn dark() -> Theme {
        let fg = Color::Rgb(0xeb, 0xdb, 0xb2);
        let accent = Color::Rgb(0xfa, 0xbd, 0x2f);
        let blue = Color::Rgb(0x83, 0xa5, 0x98);
        let bar = Color::Rgb(0x3c, 0x38, 0x36);
        Theme {
            text: Style::new().fg(fg),
            heading: Style::new().fg(accent).add_modifier(Modifier::BOLD),
            emphasis: Style::new().fg(fg).add_modifier(Modifier::ITALIC),
            strong: Style::new().fg(fg).add_modifier(Modifier::BOLD),
            code: Style::new().fg(Color::Rgb(0xb8, 0xbb, 0x26)),
            marker: Style::new().fg(blue),
            selection: Style::new().bg(Color::Rgb(0x50, 0x49, 0x45)),
            control: Style::new().fg(Color::Rgb(0xfb, 0x49, 0x34)),
            status: Style::new().fg(fg).bg(bar),
            status_modified: Style::new().fg(accent).bg(bar).add_modifier(Modifier::BOLD),
            status_error: Style::new()
                .fg(Color::White)
                .bg(Color::Rgb(0x9d, 0x00, 0x06)),
            prompt: Style::new().fg(fg).bg(Color::Rgb(0x07, 0x66, 0x78)),
            popup: Style::new().fg(fg).bg(Color::Rgb(0x28, 0x28, 0x28)),
            popup_title: Style::new().fg(accent).add_modifier(Modifier::BOLD),
            border: Style::new().fg(Color::Rgb(0x66, 0x5c, 0x54)),
            border_focused: Style::new().fg(accent),
            diff_insert: Style::new().fg(Color::Rgb(0xb8, 0xbb, 0x26)),
            diff_delete: Style::new()
                .fg(Color::Rgb(0xfb, 0x49, 0x34))
                .add_modifier(Modifier::CROSSED_OUT),
            muted: Style::new().fg(Color::Rgb(0x92, 0x83, 0x74)),
            ghost: Style::new()
                .fg(Color::Rgb(0x7c, 0x6f, 0x64))
                .add_modifier(Modifier::ITALIC),
        }
    }

    pub fn monochrome() -> Theme {
        let plain = Style::new();
        Theme {
            text: plain,
            heading: plain.add_modifier(Modifier::BOLD),
            emphasis: plain.add_modifier(Modifier::ITALIC),
            strong: plain.add_modifier(Modifier::BOLD),
            code: plain,
            marker: plain,
            selection: plain.add_modifier(Modifier::REVERSED),
            control: plain.add_modifier(Modifier::REVERSED),
            status: plain.add_modifier(Modifier::REVERSED),
            status_modified: plain.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            status_error: plain.add_modifier(Modifier::REVERSED | Modifier::BOLD),
            prompt: plain.add_modifier(Modifier::REVERSED),
            popup: plain,
            popup_title: plain.add_modifier(Modifier::BOLD),
            border: plain,
            border_focused: plain.add_modifier(Modifier::BOLD),
            diff_insert: plain.add_modifier(Modifier::UNDERLINED),
            diff_delete: plain.add_modifier(Modifier::CROSSED_OUT),
            muted: plain.add_modifier(Modifier::DIM),
            ghost: plain.add_modifier(Modifier::DIM),
        }
    }
}
