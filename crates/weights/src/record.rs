//! # Records: module parameters as bytes
//!
//! A weights file is a Burn record in the burnpack format. Before a record touches a module,
//! [`RecordSummary::of`] reads its header and values on the host: a file that is not a
//! burnpack, that holds a non-finite value, or that holds fewer values than the module built
//! from the card's config needs, is refused there. The module itself is built lazily by Burn
//! (no parameter is allocated before it is loaded or used), so a card whose config asks for a
//! huge network is refused by its parameter count, not by an allocation failure.

use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, DType};

use crate::CardError;

/// Serialises a module's parameters (burnpack bytes).
pub fn record_bytes<M: Module>(module: M) -> Vec<u8> {
    module
        .into_record()
        .into_bytes()
        .expect("in-memory burnpack encoding")
        .to_vec()
}

/// Serialises a module's parameters in half precision (burnpack bytes, half the size of
/// [`record_bytes`]); [`load_record`] widens them back to the module's f32.
pub fn record_bytes_f16<M: Module>(module: M) -> Vec<u8> {
    /// Casts every float parameter (batch norm's running statistics included) to f16.
    struct ToHalf;
    impl ModuleMapper for ToHalf {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t.cast(DType::F16))
        }
    }
    record_bytes(module.map(&mut ToHalf))
}

/// What a weights file holds, read from its bytes without building anything.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordSummary {
    /// Tensors in the file.
    pub tensors: usize,
    /// Values in all of them.
    pub values: usize,
}

impl RecordSummary {
    /// Parses the burnpack header and checks that every floating-point value is finite.
    pub fn of(bytes: &[u8]) -> Result<Self, CardError> {
        let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| CardError::Mismatch(format!("not a Burn record (burnpack): {e}")))?;
        let tensors = reader
            .into_tensors()
            .map_err(|e| CardError::Mismatch(format!("a damaged Burn record: {e}")))?;
        let mut values = 0usize;
        for tensor in &tensors {
            let count = tensor.shape.num_elements();
            values = values.saturating_add(count);
            let raw = tensor
                .to_bytes()
                .map_err(|e| CardError::Mismatch(format!("tensor {}: {e}", tensor.name)))?;
            if let Some(i) = first_non_finite(tensor.dtype, &raw) {
                return Err(CardError::NonFinite(format!(
                    "{} (value {i} of {count})",
                    tensor.name
                )));
            }
        }
        Ok(Self {
            tensors: tensors.len(),
            values,
        })
    }
}

/// A tensor of a record: its name, shape and raw little-endian values.
pub type RecordTensor = (String, Vec<usize>, Vec<u8>);

/// The tensors of a record by name, each with its shape and raw little-endian values, in name
/// order: two records hold the same weights when these are equal (a record also stores each
/// parameter's id, which differs between two runs that computed the same values).
pub fn record_tensors(bytes: &[u8]) -> Result<Vec<RecordTensor>, CardError> {
    let reader = burn_pack::Reader::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| CardError::Mismatch(format!("not a Burn record (burnpack): {e}")))?;
    let mut out = Vec::new();
    for tensor in reader
        .into_tensors()
        .map_err(|e| CardError::Mismatch(format!("a damaged Burn record: {e}")))?
    {
        let (name, _, shape, _, raw) = tensor
            .into_parts()
            .map_err(|e| CardError::Mismatch(e.to_string()))?;
        out.push((name, shape.to_vec(), raw.to_vec()));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The index of the first NaN or infinity among little-endian `raw` values of `dtype`, read by
/// their exponent bits (all ones: not finite) so that every float width is checked the same
/// way without converting; integer tensors have none.
fn first_non_finite(dtype: DType, raw: &[u8]) -> Option<usize> {
    match dtype {
        DType::F64 => raw
            .as_chunks::<8>()
            .0
            .iter()
            .position(|b| !f64::from_le_bytes(*b).is_finite()),
        DType::F32 | DType::Flex32 => raw
            .as_chunks::<4>()
            .0
            .iter()
            .position(|b| !f32::from_le_bytes(*b).is_finite()),
        DType::F16 => raw
            .as_chunks::<2>()
            .0
            .iter()
            .position(|b| u16::from_le_bytes(*b) & 0x7C00 == 0x7C00),
        DType::BF16 => raw
            .as_chunks::<2>()
            .0
            .iter()
            .position(|b| u16::from_le_bytes(*b) & 0x7F80 == 0x7F80),
        _ => None,
    }
}

/// Loads burnpack `bytes` into `module`, refusing a file that is not a record, a record with a
/// non-finite value, one with fewer values than the module's parameters (before any parameter
/// is allocated), and one of another architecture (naming the tensors that do not fit). The
/// record's values are cast to the module's dtype, so f16 records ([`record_bytes_f16`]) load
/// into the f32 modules.
pub fn load_record<M: Module>(module: M, bytes: &[u8]) -> Result<M, CardError> {
    let summary = RecordSummary::of(bytes)?;
    let needed = module.num_params();
    if needed > summary.values {
        return Err(CardError::Mismatch(format!(
            "the config needs {needed} parameters, the weights file holds {} values: the weights of another architecture",
            summary.values
        )));
    }
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes.to_vec()))
        .map_err(|e| CardError::Mismatch(e.to_string()))?
        .cast_to_module_dtype();
    module
        .try_load_record(record)
        .map_err(|e| CardError::Mismatch(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn non_finite_values_are_found_in_every_float_width() {
        let f32s: Vec<u8> = [1.0f32, f32::NAN]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert_eq!(first_non_finite(DType::F32, &f32s), Some(1));
        let inf16 = 0x7C00u16.to_le_bytes();
        let one16 = 0x3C00u16.to_le_bytes();
        assert_eq!(
            first_non_finite(DType::F16, &[one16, inf16].concat()),
            Some(1)
        );
        assert_eq!(first_non_finite(DType::F16, &[one16, one16].concat()), None);
        assert_eq!(first_non_finite(DType::I64, &[0xFF; 16]), None);
    }

    #[test]
    fn a_record_with_a_nan_or_too_few_values_is_refused_before_loading() {
        let device = Device::flex();
        let small: Linear = LinearConfig::new(2, 2).init(&device);
        let bytes = record_bytes(small.clone());
        assert_eq!(RecordSummary::of(&bytes).unwrap().values, 2 * 2 + 2);
        // A wider layer needs more values than the file has.
        let wide: Linear = LinearConfig::new(2000, 2000).init(&device);
        let err = load_record(wide, &bytes).unwrap_err().to_string();
        assert!(err.contains("4002000 parameters"), "{err}");
        // NaN weights.
        let nan = small.map(&mut Nan);
        let err = load_record(LinearConfig::new(2, 2).init(&device), &record_bytes(nan));
        assert!(matches!(err, Err(CardError::NonFinite(_))), "{err:?}");
        // Not a record.
        assert!(matches!(
            RecordSummary::of(b"not a burnpack"),
            Err(CardError::Mismatch(_))
        ));
    }

    struct Nan;
    impl ModuleMapper for Nan {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            param.map(|t| t * f32::NAN)
        }
    }
}
