//! The colours of the light theme, for what is drawn outside a browser (PNG charts, email).
//! `assets/app.css` holds the same values as CSS variables; a test keeps the two in step.

use crate::store::MetricType;

/// An sRGB colour.
pub type Rgb = (u8, u8, u8);

pub const VALUE: Rgb = (0x25, 0x63, 0xeb);
pub const SCORE: Rgb = (0x64, 0x74, 0x8b);

/// The colour of a kind of anomaly.
pub fn kind_rgb(kind: MetricType) -> Rgb {
    match kind {
        MetricType::TholdAlert => (0x93, 0x33, 0xea),
        MetricType::Change => (0x0d, 0x94, 0x88),
        MetricType::LlmAlert => (0xea, 0x7a, 0x0c),
        _ => (0xdc, 0x26, 0x26),
    }
}

/// `#rrggbb`.
pub fn hex((r, g, b): Rgb) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stylesheet_uses_the_same_colours() {
        let css = include_str!("../../assets/app.css");
        let light = &css[..css.find("[data-theme=dark]").unwrap_or(css.len())];
        for (var, rgb) in [
            ("--value", VALUE),
            ("--score", SCORE),
            ("--alert", kind_rgb(MetricType::Alert)),
            ("--thold", kind_rgb(MetricType::TholdAlert)),
            ("--change", kind_rgb(MetricType::Change)),
            ("--llm", kind_rgb(MetricType::LlmAlert)),
        ] {
            let decl = format!("{var}: {};", hex(rgb));
            assert!(light.contains(&decl), "app.css should declare `{decl}`");
        }
    }
}
