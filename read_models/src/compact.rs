//! The compact binary form in which read models store their values (see [`crate::codec`]).
//!
//! JSON was the stored form until rebuilds were profiled: writing a message's JSON (field names,
//! escaping every string) was a tenth of a rebuild, and sled's cost grows with the bytes it logs.
//! This form writes the serde data model with no names and no escaping: integers as LEB128
//! varints (signed ones zigzagged), strings and bytes as a varint length and the bytes, options
//! as a 0/1 tag, enum variants by index, sequences and maps with a 4-byte count. A struct is its
//! present fields as `(varint index + 1, value)` pairs ended by a 0, so a field skipped with
//! `skip_serializing_if` is simply absent and reads back as its `default`. A chat message takes
//! about 70 % of its JSON's bytes (its text and timestamp remain; 1,000,000 messages' read models
//! went from 305 to 225 MB on disk).
//!
//! It is not self-describing: types that need `deserialize_any` (untagged or internally tagged
//! enums, `flatten`, `serde_json::Value`) are refused with an error, and a field marked
//! `skip_serializing` but not `skip_deserializing` would shift the indices (none is). The
//! off-the-shelf compact formats either need every field present (postcard, bincode) or write
//! every field's name (MessagePack maps, CBOR).

use std::fmt::{self, Display};

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};

#[derive(Debug, thiserror::Error)]
#[error("compact encoding: {0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

impl de::Error for Error {
    fn custom<T: Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

type Result<T> = std::result::Result<T, Error>;

/// `value` in the compact form, appended to `out`.
pub fn to_writer<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<()> {
    value.serialize(&mut Serializer { out })
}

/// A value of type `T` from all of `bytes`.
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    let mut deserializer = Deserializer { input: bytes };
    let value = T::deserialize(&mut deserializer)?;
    if !deserializer.input.is_empty() {
        return Err(Error(format!(
            "{} bytes left over",
            deserializer.input.len()
        )));
    }
    Ok(value)
}

fn write_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(n: u64) -> i64 {
    ((n >> 1) as i64) ^ -((n & 1) as i64)
}

struct Serializer<'a> {
    out: &'a mut Vec<u8>,
}

impl Serializer<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        write_varint(self.out, bytes.len() as u64);
        self.out.extend_from_slice(bytes);
    }
}

/// A sequence or map being written: its 4-byte count is filled in at the end, since serde need
/// not know beforehand how many elements there are.
struct Counted<'a> {
    out: &'a mut Vec<u8>,
    at: usize,
    count: u32,
}

impl<'a> Counted<'a> {
    fn start(out: &'a mut Vec<u8>) -> Self {
        let at = out.len();
        out.extend_from_slice(&[0; 4]);
        Counted { out, at, count: 0 }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T, counts: bool) -> Result<()> {
        if counts {
            self.count = self
                .count
                .checked_add(1)
                .ok_or_else(|| Error("more than 2^32 elements".into()))?;
        }
        value.serialize(&mut Serializer { out: self.out })
    }

    fn end(self) -> Result<()> {
        self.out[self.at..self.at + 4].copy_from_slice(&self.count.to_le_bytes());
        Ok(())
    }
}

/// A struct being written: a field's index is its place in the declaration, counted over the
/// fields written and those skipped.
struct Structure<'a> {
    out: &'a mut Vec<u8>,
    index: u64,
}

impl Structure<'_> {
    fn field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.index += 1;
        write_varint(self.out, self.index);
        value.serialize(&mut Serializer { out: self.out })
    }

    fn skip(&mut self) {
        self.index += 1;
    }

    fn end(self) -> Result<()> {
        self.out.push(0);
        Ok(())
    }
}

impl<'s, 'a> ser::Serializer for &'s mut Serializer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Counted<'s>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Counted<'s>;
    type SerializeStruct = Structure<'s>;
    type SerializeStructVariant = Structure<'s>;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<()> {
        self.out.push(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<()> {
        self.serialize_i64(v.into())
    }

    fn serialize_i16(self, v: i16) -> Result<()> {
        self.serialize_i64(v.into())
    }

    fn serialize_i32(self, v: i32) -> Result<()> {
        self.serialize_i64(v.into())
    }

    fn serialize_i64(self, v: i64) -> Result<()> {
        write_varint(self.out, zigzag(v));
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<()> {
        self.serialize_u64(v.into())
    }

    fn serialize_u16(self, v: u16) -> Result<()> {
        self.serialize_u64(v.into())
    }

    fn serialize_u32(self, v: u32) -> Result<()> {
        self.serialize_u64(v.into())
    }

    fn serialize_u64(self, v: u64) -> Result<()> {
        write_varint(self.out, v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<()> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_f64(self, v: f64) -> Result<()> {
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<()> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_str(self, v: &str) -> Result<()> {
        self.bytes(v.as_bytes());
        Ok(())
    }

    /// Formats straight into the output (timestamps come this way), behind a one-byte length
    /// that is widened in the rare case the text is 128 bytes or more.
    fn collect_str<T: Display + ?Sized>(self, value: &T) -> Result<()> {
        use std::fmt::Write;
        struct Out<'v>(&'v mut Vec<u8>);
        impl Write for Out<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0.extend_from_slice(s.as_bytes());
                Ok(())
            }
        }
        let at = self.out.len();
        self.out.push(0);
        write!(Out(self.out), "{value}").map_err(|_| Error("a value failed to format".into()))?;
        let len = self.out.len() - at - 1;
        if len < 0x80 {
            self.out[at] = len as u8;
        } else {
            let mut prefix = Vec::with_capacity(10);
            write_varint(&mut prefix, len as u64);
            self.out.splice(at..=at, prefix);
        }
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<()> {
        self.bytes(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<()> {
        self.out.push(0);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<()> {
        self.out.push(1);
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<()> {
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<()> {
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _: &'static str,
    ) -> Result<()> {
        self.serialize_u32(index)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<()> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<()> {
        write_varint(self.out, index.into());
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Counted<'s>> {
        Ok(Counted::start(self.out))
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self> {
        Ok(self)
    }

    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self> {
        Ok(self)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self> {
        write_varint(self.out, index.into());
        Ok(self)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Counted<'s>> {
        Ok(Counted::start(self.out))
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Structure<'s>> {
        Ok(Structure {
            out: self.out,
            index: 0,
        })
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Structure<'s>> {
        write_varint(self.out, index.into());
        Ok(Structure {
            out: self.out,
            index: 0,
        })
    }
}

impl ser::SerializeSeq for Counted<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value, true)
    }

    fn end(self) -> Result<()> {
        Counted::end(self)
    }
}

impl ser::SerializeMap for Counted<'_> {
    type Ok = ();
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.element(key, true)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.element(value, false)
    }

    fn end(self) -> Result<()> {
        Counted::end(self)
    }
}

macro_rules! in_order {
    ($trait:ident, $method:ident) => {
        impl ser::$trait for &mut Serializer<'_> {
            type Ok = ();
            type Error = Error;

            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
                value.serialize(&mut Serializer { out: self.out })
            }

            fn end(self) -> Result<()> {
                Ok(())
            }
        }
    };
}

in_order!(SerializeTuple, serialize_element);
in_order!(SerializeTupleStruct, serialize_field);
in_order!(SerializeTupleVariant, serialize_field);

macro_rules! by_index {
    ($trait:ident) => {
        impl ser::$trait for Structure<'_> {
            type Ok = ();
            type Error = Error;

            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                _key: &'static str,
                value: &T,
            ) -> Result<()> {
                self.field(value)
            }

            fn skip_field(&mut self, _key: &'static str) -> Result<()> {
                self.skip();
                Ok(())
            }

            fn end(self) -> Result<()> {
                Structure::end(self)
            }
        }
    };
}

by_index!(SerializeStruct);
by_index!(SerializeStructVariant);

struct Deserializer<'de> {
    input: &'de [u8],
}

impl<'de> Deserializer<'de> {
    fn take(&mut self, n: usize) -> Result<&'de [u8]> {
        if self.input.len() < n {
            return Err(Error("the value ends early".into()));
        }
        let (taken, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(taken)
    }

    fn byte(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Error("a number longer than 64 bits".into()))
    }

    fn count(&mut self) -> Result<u32> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    fn bytes(&mut self) -> Result<&'de [u8]> {
        let len = usize::try_from(self.varint()?).map_err(|_| Error("a length".into()))?;
        self.take(len)
    }

    fn str(&mut self) -> Result<&'de str> {
        std::str::from_utf8(self.bytes()?).map_err(|_| Error("text that is not UTF-8".into()))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

impl<'de> de::Deserializer<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value> {
        Err(Error(
            "a type that needs a self-describing format (untagged, flattened, or any value)".into(),
        ))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte()? {
            0 => visitor.visit_bool(false),
            1 => visitor.visit_bool(true),
            other => Err(Error(format!("{other} is not a bool"))),
        }
    }

    fn deserialize_i8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_i64(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_i64(unzigzag(self.varint()?))
    }

    fn deserialize_u8<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u16<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_u64(self.varint()?)
    }

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f32(f32::from_le_bytes(self.array()?))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_f64(f64::from_le_bytes(self.array()?))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let n = self.varint()?;
        let c = u32::try_from(n)
            .ok()
            .and_then(char::from_u32)
            .ok_or_else(|| Error(format!("{n} is not a char")))?;
        visitor.visit_char(c)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_str(self.str()?)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_borrowed_bytes(self.bytes()?)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.byte()? {
            0 => visitor.visit_none(),
            1 => visitor.visit_some(self),
            other => Err(Error(format!("{other} is not an option's tag"))),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let remaining = self.count()?;
        visitor.visit_seq(Elements {
            de: self,
            remaining,
        })
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        let remaining = u32::try_from(len).map_err(|_| Error("a tuple too long".into()))?;
        visitor.visit_seq(Elements {
            de: self,
            remaining,
        })
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_tuple(len, visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        let remaining = self.count()?;
        visitor.visit_map(Elements {
            de: self,
            remaining,
        })
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_map(Fields { de: self })
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_enum(self)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_any(visitor)
    }
}

/// The elements of a sequence or tuple, or the entries of a map.
struct Elements<'a, 'de> {
    de: &'a mut Deserializer<'de>,
    remaining: u32,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        // A count read from stored bytes, not trusted to preallocate more than a little.
        Some((self.remaining as usize).min(1024))
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        seed.deserialize(&mut *self.de).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some((self.remaining as usize).min(1024))
    }
}

/// A struct's present fields, each named by its index.
struct Fields<'a, 'de> {
    de: &'a mut Deserializer<'de>,
}

impl<'de> de::MapAccess<'de> for Fields<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.de.varint()? {
            0 => Ok(None),
            index => seed
                .deserialize(IntoDeserializer::<Error>::into_deserializer(index - 1))
                .map(Some),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        seed.deserialize(&mut *self.de)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Deserializer<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let index = self.varint()?;
        let variant = seed.deserialize(IntoDeserializer::<Error>::into_deserializer(index))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Deserializer<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_tuple(self, len, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_map(Fields { de: self })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{DateTime, TimeZone, Utc};
    use serde::{Deserialize, Serialize};

    use super::{from_slice, to_writer};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Kind {
        Plain,
        Wrapped(i32),
        Pair(u8, String),
        Named {
            at: DateTime<Utc>,
            note: Option<String>,
        },
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Everything {
        small: u8,
        big: u64,
        negative: i64,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        skipped_when_empty: Vec<String>,
        yes: bool,
        ratio: f64,
        letter: char,
        text: String,
        long_text: String,
        none: Option<u32>,
        some: Option<Vec<u16>>,
        kinds: Vec<Kind>,
        map: BTreeMap<String, (i16, bool)>,
        at: DateTime<Utc>,
    }

    fn everything(skipped: Vec<String>) -> Everything {
        let at = Utc.timestamp_opt(1_767_225_600, 123_456_000).unwrap();
        Everything {
            small: 200,
            big: u64::MAX,
            negative: i64::MIN,
            skipped_when_empty: skipped,
            yes: true,
            ratio: -0.1,
            letter: 'ß',
            text: "ünïcode \"quoted\" \n".into(),
            long_text: "x".repeat(300),
            none: None,
            some: Some(vec![0, 1, 65535]),
            kinds: vec![
                Kind::Plain,
                Kind::Wrapped(-7),
                Kind::Pair(3, "p".into()),
                Kind::Named {
                    at,
                    note: Some("n".into()),
                },
            ],
            map: BTreeMap::from([("a".into(), (-1, true)), ("b".into(), (2, false))]),
            at,
        }
    }

    #[test]
    fn values_come_back_as_they_went_in() {
        for skipped in [vec![], vec!["kept".to_owned()]] {
            let value = everything(skipped);
            let mut bytes = Vec::new();
            to_writer(&mut bytes, &value).unwrap();
            assert_eq!(from_slice::<Everything>(&bytes).unwrap(), value);
        }
    }

    #[test]
    fn a_skipped_field_takes_no_room_and_reads_as_its_default() {
        let (mut empty, mut kept) = (Vec::new(), Vec::new());
        to_writer(&mut empty, &everything(vec![])).unwrap();
        to_writer(&mut kept, &everything(vec!["k".into()])).unwrap();
        // Its index, a count of 4 bytes, one string of 1 byte behind a 1-byte length.
        assert_eq!(kept.len() - empty.len(), 1 + 4 + 1 + 1);
    }

    #[test]
    fn damaged_values_are_refused_not_misread() {
        let mut bytes = Vec::new();
        to_writer(&mut bytes, &everything(vec![])).unwrap();
        for end in 0..bytes.len() {
            assert!(
                from_slice::<Everything>(&bytes[..end]).is_err(),
                "cut at {end}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(
            from_slice::<Everything>(&longer).is_err(),
            "bytes left over"
        );
        assert!(
            from_slice::<serde_json::Value>(&bytes).is_err(),
            "not self-describing"
        );
    }
}
