//! Text sparklines for plain-text messages: one block character per point, scaled between the
//! series' lowest and highest value. Gaps (missing values) are spaces.

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A sparkline of `values`, at most `width` characters (the newest points when longer).
pub fn sparkline(values: &[Option<f64>], width: usize) -> String {
    let values = &values[values.len().saturating_sub(width)..];
    let finite = values.iter().flatten().filter(|v| v.is_finite());
    let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(*v), hi.max(*v))
    });
    values
        .iter()
        .map(|v| match v {
            Some(v) if v.is_finite() => {
                let span = hi - lo;
                let level = if span > 0.0 {
                    ((v - lo) / span * (BLOCKS.len() - 1) as f64).round() as usize
                } else {
                    BLOCKS.len() / 2
                };
                BLOCKS[level.min(BLOCKS.len() - 1)]
            }
            _ => ' ',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_spans_low_to_high_with_gaps() {
        let s = sparkline(&[Some(0.0), Some(7.0), None, Some(3.5), Some(f64::NAN)], 10);
        assert_eq!(s, "▁█ ▅ ");
        assert_eq!(
            sparkline(&[Some(2.0), Some(2.0)], 10),
            "▅▅",
            "flat is mid-height"
        );
        assert_eq!(
            sparkline(&[Some(1.0), Some(2.0), Some(3.0)], 2),
            "▁█",
            "newest points"
        );
        assert_eq!(sparkline(&[], 5), "");
    }
}
