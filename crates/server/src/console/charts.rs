//! Small charts drawn on the server as inline SVG: no script, no chart library.
//!
//! Every chart is readable without colour: the second series of a bar chart is hatched
//! (a pattern, not only another colour), the SVG has a `<title>` and a `<desc>` with the
//! totals and the peak, and the page puts the numbers in a table next to it. Colours
//! come from the stylesheet (classes), so light and dark both work under a CSP without
//! inline styles.

use std::fmt::Write as _;

const W: f64 = 320.0;
const H: f64 = 140.0;
const LEFT: f64 = 40.0;
const RIGHT: f64 = 14.0;
const BOTTOM: f64 = 20.0;
const TOP: f64 = 10.0;

/// How a bar series is filled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fill {
    /// Solid, the first colour.
    Solid,
    /// Hatched, the second colour.
    Hatched,
}

/// One bar series.
#[derive(Debug)]
pub struct Series<'a> {
    /// Its name (legend, table header).
    pub label: &'a str,
    /// How it is drawn.
    pub fill: Fill,
    /// One value per hour.
    pub values: &'a [u64],
}

fn nice_max(max: u64) -> u64 {
    if max == 0 {
        return 1;
    }
    let mut step = 1u64;
    while step.saturating_mul(10) <= max {
        step = step.saturating_mul(10);
    }
    for m in [1, 2, 5, 10] {
        if step.saturating_mul(m) >= max {
            return step.saturating_mul(m);
        }
    }
    max
}

fn open(out: &mut String, id: &str, title: &str, desc: &str) {
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\" focusable=\"false\">\
<title id=\"{id}-t\">{}</title><desc id=\"{id}-d\">{}</desc>",
        escape(title),
        escape(desc)
    );
}

fn axes(out: &mut String, max: u64, labels: &[String], unit: &str) {
    let plot_h = H - TOP - BOTTOM;
    let mut ticks = vec![(0.0, 0), (1.0, max)];
    if max >= 2 && max.is_multiple_of(2) {
        ticks.insert(1, (0.5, max / 2));
    }
    for (frac, v) in ticks {
        let y = TOP + plot_h * (1.0 - frac);
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{v}{unit}</text>",
            W - RIGHT,
            LEFT - 4.0,
            y + 3.0
        );
    }
    let n = labels.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    for (i, l) in labels.iter().enumerate() {
        if i.is_multiple_of(6) || i + 1 == labels.len() {
            let x = LEFT + slot * (i as f64 + 0.5);
            let _ = write!(
                out,
                "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                H - 5.0,
                escape(l)
            );
        }
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
        W - RIGHT,
        y = H - BOTTOM
    );
}

/// A bar chart of one or two series per hour; `labels` names the hours.
pub fn bars(id: &str, title: &str, desc: &str, labels: &[String], series: &[Series<'_>]) -> String {
    let mut out = String::with_capacity(4096);
    open(&mut out, id, title, desc);
    let _ = write!(
        out,
        "<defs><pattern id=\"{id}-hatch\" width=\"4\" height=\"4\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect class=\"bar-b\" width=\"2\" height=\"4\"/></pattern></defs>"
    );
    let max = nice_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().copied())
            .max()
            .unwrap_or(0),
    );
    axes(&mut out, max, labels, "");
    let plot_h = H - TOP - BOTTOM;
    let n = labels.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let k = series.len().max(1) as f64;
    let bar_w = (slot * 0.8 / k).max(1.0);
    for (si, s) in series.iter().enumerate() {
        for (i, v) in s.values.iter().enumerate() {
            if *v == 0 {
                continue;
            }
            let h = plot_h * (*v as f64) / (max as f64);
            let x = LEFT + slot * i as f64 + slot * 0.1 + bar_w * si as f64;
            let y = TOP + plot_h - h;
            let fill = match s.fill {
                Fill::Solid => "class=\"bar-a\"".to_owned(),
                Fill::Hatched => format!("fill=\"url(#{id}-hatch)\" class=\"bar-b-outline\""),
            };
            let _ = write!(
                out,
                "<rect {fill} x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_w:.1}\" height=\"{h:.1}\"><title>{}: {v} ({})</title></rect>",
                escape(s.label),
                escape(&labels[i.min(labels.len().saturating_sub(1))])
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// A line of one value per hour (gaps where there is none), e.g. a latency.
pub fn line(
    id: &str,
    title: &str,
    desc: &str,
    labels: &[String],
    values: &[Option<u64>],
    unit: &str,
) -> String {
    let mut out = String::with_capacity(4096);
    open(&mut out, id, title, desc);
    let max = nice_max(values.iter().flatten().copied().max().unwrap_or(0));
    axes(&mut out, max, labels, unit);
    let plot_h = H - TOP - BOTTOM;
    let n = labels.len().max(1) as f64;
    let slot = (W - LEFT - RIGHT) / n;
    let mut path = String::new();
    let mut pen_up = true;
    let mut dots = String::new();
    for (i, v) in values.iter().enumerate() {
        match v {
            Some(v) => {
                let x = LEFT + slot * (i as f64 + 0.5);
                let y = TOP + plot_h * (1.0 - (*v as f64) / (max as f64));
                let _ = write!(path, "{}{x:.1},{y:.1} ", if pen_up { "M" } else { "L" });
                pen_up = false;
                let _ = write!(
                    dots,
                    "<circle class=\"dot\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"2.5\"><title>{v}{} ({})</title></circle>",
                    escape(unit),
                    escape(&labels[i.min(labels.len().saturating_sub(1))])
                );
            }
            None => pen_up = true,
        }
    }
    if !path.is_empty() {
        let _ = write!(out, "<path class=\"line\" d=\"{}\"/>", path.trim_end());
    }
    out.push_str(&dots);
    out.push_str("</svg>");
    out
}

/// `s` escaped for SVG text and attribute values, by askama's HTML escaper (the one the
/// templates use), so the charts drawn here escape exactly as the pages do.
fn escape(s: &str) -> String {
    match askama::filters::escape(s, askama::filters::Html) {
        Ok(safe) => safe.to_string(),
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_max_rounds_up_to_1_2_5_steps() {
        assert_eq!(nice_max(0), 1);
        assert_eq!(nice_max(7), 10);
        assert_eq!(nice_max(11), 20);
        assert_eq!(nice_max(41), 50);
        assert_eq!(nice_max(100), 100);
    }

    #[test]
    fn charts_escape_text_and_carry_title_and_desc() {
        let labels = vec!["<h>".to_owned(); 3];
        let svg = bars(
            "c",
            "T<",
            "D&",
            &labels,
            &[Series {
                label: "a\"",
                fill: Fill::Hatched,
                values: &[1, 0, 2],
            }],
        );
        assert!(svg.contains("<title id=\"c-t\">T&#60;</title>"));
        assert!(svg.contains("<desc id=\"c-d\">D&#38;</desc>"));
        assert!(!svg.contains("<h>"));
        let svg = line("l", "t", "d", &labels, &[Some(5), None, Some(7)], " ms");
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches('M').count(), 2, "a gap lifts the pen");
    }
}
