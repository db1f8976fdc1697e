//! The checks of each `[[source]]` and `[[sink]]`, each naming the file,
//! the line and the key.

use super::Validator;
use crate::config::{Config, ConfigError, SaslConfig, SinkConfig, SourceConfig, StartAt};
use toml::Spanned;

impl Validator<'_> {
    pub(super) fn streams(&self, c: &Config) -> Result<(), ConfigError> {
        self.unique(c.sources.iter().map(|s| &s.name), "source")?;
        self.unique(c.sinks.iter().map(|s| &s.name), "sink")?;
        for s in &c.sources {
            self.source(c, s)?;
        }
        for s in &c.sinks {
            self.sink(c, s)?;
        }
        Ok(())
    }

    fn source(&self, c: &Config, s: &SourceConfig) -> Result<(), ConfigError> {
        let name = s.name.get_ref();
        let key = |k: &str| format!("source[{name}].{k}");
        self.kafka(&s.name, &s.kind, &s.brokers, &s.topic, &s.sasl, &key)?;
        if c.view(s.view.get_ref()).is_none() {
            let m = format!("no [[feature_view]] named {:?}", s.view.get_ref());
            return self.err(s.view.span(), key("view"), m);
        }
        if let Err(m) = StartAt::parse(s.start.get_ref()) {
            return self.err(s.start.span(), key("start"), m);
        }
        if s.format.get_ref() != "json" {
            let m = format!("{:?}: the one format is \"json\"", s.format.get_ref());
            return self.err(s.format.span(), key("format"), m);
        }
        if let Some(p) = &s.partitions
            && (p.get_ref().is_empty() || p.get_ref().iter().any(|p| *p < 0))
        {
            let m = "list partitions by number (0, 1, ...), or leave it out for all";
            return self.err(p.span(), key("partitions"), m);
        }
        let bytes = *s.fetch_max_bytes.get_ref();
        if !(1024..=1 << 30).contains(&bytes) {
            let m = "must be at least 1024 and at most 1073741824 (bytes)";
            return self.err(s.fetch_max_bytes.span(), key("fetch_max_bytes"), m);
        }
        if *s.fetch_max_wait_ms.get_ref() > 60_000 {
            let at = s.fetch_max_wait_ms.span();
            return self.err(at, key("fetch_max_wait_ms"), "must be at most 60000");
        }
        Ok(())
    }

    fn sink(&self, c: &Config, s: &SinkConfig) -> Result<(), ConfigError> {
        let name = s.name.get_ref();
        let key = |k: &str| format!("sink[{name}].{k}");
        self.kafka(&s.name, &s.kind, &s.brokers, &s.topic, &s.sasl, &key)?;
        if s.views.is_empty() {
            return self.err(s.name.span(), key("views"), "list at least one view");
        }
        for v in &s.views {
            if c.view(v.get_ref()).is_none() {
                let m = format!("no [[feature_view]] named {:?}", v.get_ref());
                return self.err(v.span(), key("views"), m);
            }
        }
        Ok(())
    }

    /// What sources and sinks share: the kind, brokers, topic and SASL.
    fn kafka(
        &self,
        name: &Spanned<String>,
        kind: &Spanned<String>,
        brokers: &[Spanned<String>],
        topic: &Spanned<String>,
        sasl: &Option<SaslConfig>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<(), ConfigError> {
        if kind.get_ref() != "kafka" {
            let m = format!("{:?}: the one kind is \"kafka\"", kind.get_ref());
            return self.err(kind.span(), key("kind"), m);
        }
        if brokers.is_empty() {
            return self.err(name.span(), key("brokers"), "list at least one host:port");
        }
        for b in brokers {
            let port = b.get_ref().rsplit_once(':').map(|(_, p)| p.parse::<u16>());
            if !matches!(port, Some(Ok(_))) {
                let m = format!("{:?}: give host:port", b.get_ref());
                return self.err(b.span(), key("brokers"), m);
            }
        }
        if topic.get_ref().trim().is_empty() {
            return self.err(topic.span(), key("topic"), "must not be empty");
        }
        let Some(sasl) = sasl else { return Ok(()) };
        let mechanism = sasl.mechanism.get_ref();
        if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism.as_str()) {
            let m = format!("{mechanism:?}: use PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512");
            return self.err(sasl.mechanism.span(), key("sasl.mechanism"), m);
        }
        match (&sasl.password_env, &sasl.password_file) {
            (Some(_), None) | (None, Some(_)) => Ok(()),
            (Some(_), Some(f)) => self.err(
                f.span(),
                key("sasl.password_file"),
                "give password_env or password_file, not both",
            ),
            (None, None) => self.err(
                name.span(),
                key("sasl"),
                "give password_env or password_file (never the password itself)",
            ),
        }
    }
}
