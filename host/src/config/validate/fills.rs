//! The checks across a view's transformations: `transform.fills` (the other
//! fields one call fills must be plain fields of the same view, each filled
//! by one transformation only) and `transform.input_types` (each names an
//! input column and a field type).

use super::Validator;
use crate::config::{ConfigError, FieldType, ViewConfig};

impl Validator<'_> {
    pub(super) fn input_types(&self, v: &ViewConfig) -> Result<(), ConfigError> {
        let vname = v.name.get_ref();
        for f in &v.fields {
            let Some(t) = &f.transform else { continue };
            let key = format!(
                "feature_view[{vname}].fields[{}].transform.input_types",
                f.name.get_ref()
            );
            let inputs = t.inputs(f.name.get_ref());
            for (column, ty) in &t.input_types {
                if !inputs.contains(column) {
                    let msg =
                        format!("{column:?} is not an input of this transformation ({inputs:?})");
                    return self.err(ty.span(), key, msg);
                }
                if FieldType::parse(ty.get_ref()).is_none() {
                    let msg = format!(
                        "{column:?}: unknown type {:?} ({})",
                        ty.get_ref(),
                        FieldType::KNOWN
                    );
                    return self.err(ty.span(), key, msg);
                }
            }
        }
        Ok(())
    }

    pub(super) fn fills(&self, v: &ViewConfig) -> Result<(), ConfigError> {
        let vname = v.name.get_ref();
        let mut filled: Vec<&str> = Vec::new();
        for f in &v.fields {
            let Some(t) = &f.transform else { continue };
            let key = format!(
                "feature_view[{vname}].fields[{}].transform.fills",
                f.name.get_ref()
            );
            for name in &t.fills {
                let target = v.fields.iter().find(|g| g.name.get_ref() == name.get_ref());
                let why = match target {
                    None => Some("no field of that name in the view".to_string()),
                    Some(g) if g.name.get_ref() == f.name.get_ref() => {
                        Some("a field's own transformation already fills it".into())
                    }
                    Some(g) if g.primary_key => {
                        Some("the primary key cannot be transformed".into())
                    }
                    Some(g) if g.transform.is_some() => {
                        Some("that field has a transformation of its own".into())
                    }
                    Some(_) if filled.contains(&name.get_ref().as_str()) => {
                        Some("another transformation already fills it".into())
                    }
                    Some(_) => None,
                };
                if let Some(why) = why {
                    return self.err(name.span(), key, format!("{:?}: {why}", name.get_ref()));
                }
                filled.push(name.get_ref());
            }
        }
        Ok(())
    }
}
