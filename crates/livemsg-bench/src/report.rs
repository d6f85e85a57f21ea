//! What a run leaves: the Markdown table of its lines, and the optional `perf` profile.

use super::*;

/// `perf record` of the whole machine, with call graphs.
pub(crate) struct Perf {
    child: std::process::Child,
    dir: std::path::PathBuf,
}

impl Perf {
    pub(crate) fn start(dir: &std::path::Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let child = std::process::Command::new("perf")
            .args(["record", "-a", "-g", "-F", "199", "-o"])
            .arg(dir.join("perf.data"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .context("perf must be installed")?;
        Ok(Perf {
            child,
            dir: dir.to_owned(),
        })
    }

    /// [`Perf::finish`] of a profile, if one was started.
    pub(crate) fn finish_opt(perf: Option<Perf>) -> anyhow::Result<()> {
        perf.map_or(Ok(()), Perf::finish)
    }

    /// Stops recording and writes `by-process.txt` and `by-symbol.txt`.
    pub(crate) fn finish(mut self) -> anyhow::Result<()> {
        std::process::Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()?;
        self.child.wait()?;
        let data = self.dir.join("perf.data");
        for (file, sort) in [
            ("by-process.txt", "comm,dso"),
            ("by-symbol.txt", "comm,dso,symbol"),
        ] {
            let out = std::process::Command::new("perf")
                .args([
                    "report",
                    "--stdio",
                    "--no-children",
                    "-g",
                    "none",
                    "--percent-limit",
                    "0.5",
                    "--sort",
                    sort,
                    "-i",
                ])
                .arg(&data)
                .output()?;
            std::fs::write(self.dir.join(file), out.stdout)?;
        }
        Ok(())
    }
}

pub(crate) fn table(lines: &[Line]) -> String {
    let mut out = String::from(
        "| scenario | conc. | ops/s | p50 ms | p99 ms | p99.9 ms | CPU s / 1000 | vs baseline |\n|---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for line in lines {
        let s = &line.stats;
        let versus = line
            .versus
            .as_ref()
            .map_or(String::new(), |(ratio, against)| {
                format!("**{:.0}%** of {against}", ratio * 100.0)
            });
        let p999 = if line.scenario.starts_with("4. baseline") {
            "-".to_owned()
        } else {
            format!("{:.2}", s.ms(0.999))
        };
        out.push_str(&format!(
            "| {}{} | {} | {:.0} | {:.2} | {:.2} | {} | {:.3} | {} |\n",
            line.scenario,
            if s.errors > 0 {
                format!(" ({} errors)", s.errors)
            } else {
                String::new()
            },
            line.concurrency,
            s.throughput(),
            s.ms(0.5),
            s.ms(0.99),
            p999,
            s.cpu_per_1000(),
            versus
        ));
    }
    out
}

/// Where each measured line's CPU went: seconds per 1,000 operations by process, for the lines
/// run by the load runner (the others leave no breakdown).
pub(crate) fn by_process(lines: &[Line]) -> String {
    let measured: Vec<&Line> = lines
        .iter()
        .filter(|l| !l.stats.by_process.is_empty() && l.stats.ops > 0)
        .collect();
    let Some(first) = measured.first() else {
        return String::new();
    };
    let names: Vec<&str> = first.stats.by_process.iter().map(|(n, _)| *n).collect();
    let mut out = format!(
        "\nCPU s / 1000 by process (the machine's busy CPU less the harness's, split by \
         `/proc/<pid>/stat`; `other` is the kernel's own threads and anything else):\n\n\
         | scenario | {} |\n|---|{}\n",
        names.join(" | "),
        "---:|".repeat(names.len())
    );
    for line in measured {
        let per_1000: Vec<String> = line
            .stats
            .by_process
            .iter()
            .map(|(_, secs)| format!("{:.3}", secs * 1000.0 / line.stats.ops as f64))
            .collect();
        out.push_str(&format!(
            "| {} | {} |\n",
            line.scenario,
            per_1000.join(" | ")
        ));
    }
    out
}
