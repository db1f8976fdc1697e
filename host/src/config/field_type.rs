//! `FieldType`: the declared type of a feature, as the config spells it
//! (Feast's names and the PAI / MaxCompute ones), and what each means for
//! the stored value.

/// The type of a stored feature value. Int32, float32 and timestamps are
/// stored as int64 and float64 values (a float32 rounded to its exact
/// float32 value, a timestamp as epoch seconds, as Feast answers it); their
/// type checks the range on write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Bool,
    Int32,
    Int64,
    Float32,
    Float64,
    String,
    Bytes,
    /// Feast's `UnixTimestamp`: epoch seconds.
    Timestamp,
    /// A float32 array, optionally with fixed dimensions (an embedding).
    Vector,
    Int64List,
    Float64List,
    StringList,
}

impl FieldType {
    /// Accepts Feast's names and the PAI / MaxCompute spellings (`BIGINT`,
    /// `DOUBLE`, `ARRAY<FLOAT>`). `int`, `integer` and `float` keep the
    /// 64-bit meaning they always had here, and `array<double>` the float32
    /// vector (PAI's embedding spelling); `int32`, `float32` and
    /// `array<float64>` say the narrower or exact type.
    pub fn parse(s: &str) -> Option<Self> {
        let t: String = s
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match t.as_str() {
            "bool" | "boolean" => Self::Bool,
            "int32" => Self::Int32,
            "int64" | "bigint" | "int" | "integer" | "long" => Self::Int64,
            "float32" => Self::Float32,
            "float64" | "double" | "float" => Self::Float64,
            "string" | "text" => Self::String,
            "bytes" | "binary" => Self::Bytes,
            "unix_timestamp" | "unixtimestamp" | "timestamp" | "datetime" => Self::Timestamp,
            "array<float>" | "array<float32>" | "array<double>" | "vector" | "embedding" => {
                Self::Vector
            }
            "array<int64>" | "array<bigint>" | "array<long>" | "array<int>" => Self::Int64List,
            "array<float64>" => Self::Float64List,
            "array<string>" => Self::StringList,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bool => "bool",
            Self::Int32 => "int32",
            Self::Int64 => "int64",
            Self::Float32 => "float32",
            Self::Float64 => "float64",
            Self::String => "string",
            Self::Bytes => "bytes",
            Self::Timestamp => "unix_timestamp",
            Self::Vector => "array<float>",
            Self::Int64List => "array<int64>",
            Self::Float64List => "array<float64>",
            Self::StringList => "array<string>",
        }
    }

    /// Every spelling `parse` takes, for error messages.
    pub const KNOWN: &'static str = "bool, int32, int64, float32, float64, string, bytes, unix_timestamp, array<float> (a vector), array<int64>, array<float64>, array<string>";

    /// The element type of a list type.
    pub fn element(self) -> Option<FieldType> {
        match self {
            Self::Int64List => Some(Self::Int64),
            Self::Float64List => Some(Self::Float64),
            Self::StringList => Some(Self::String),
            _ => None,
        }
    }

    /// What an entity key of this type is: int32 keys are int64 keys.
    pub fn as_key(self) -> Self {
        match self {
            Self::Int32 => Self::Int64,
            t => t,
        }
    }
}
