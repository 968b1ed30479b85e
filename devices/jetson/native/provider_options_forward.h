// Spectra Edge: forwards typed execution-provider options from JavaScript to onnxruntime.
//
// Stock onnxruntime-node reads only `name` and `deviceId` for the tensorrt and cuda providers and drops every
// other option (onnxruntime issue #26854): no fp16, no int8, no engine cache, so TensorRT rebuilds its engines at
// every start. patches/0001-forward-provider-options.patch calls TranslateProviderOptions from
// js/node/src/session_options_helper.cc and hands the result to UpdateTensorRTProviderOptions /
// UpdateCUDAProviderOptions.
//
// This header is deliberately free of N-API and onnxruntime types so a plain g++ build can test it
// (test/jetson/provider-options-native.test.ts). Keep the key table in step with sdk/device/provider-options.ts:
// that test compares the two.
#pragma once

#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace spectra_edge {

enum class OptionKind { Bool, UInt, String };

struct OptionSpec {
  const char* key;
  OptionKind kind;
};

// One JavaScript property value, reduced to the scalar types an option can take.
struct JsScalar {
  enum class Type { Bool, Number, String, Other };
  Type type = Type::Other;
  bool boolean = false;
  double number = 0;
  std::string text;
};

// Keys of OrtTensorRTProviderOptionsV2 a profile may set. device_id comes from `deviceId`.
inline const std::vector<OptionSpec>& TensorRtOptionKeys() {
  static const std::vector<OptionSpec> keys = {
      {"trt_max_workspace_size", OptionKind::UInt},
      {"trt_fp16_enable", OptionKind::Bool},
      {"trt_int8_enable", OptionKind::Bool},
      {"trt_int8_calibration_table_name", OptionKind::String},
      {"trt_int8_use_native_calibration_table", OptionKind::Bool},
      {"trt_engine_cache_enable", OptionKind::Bool},
      {"trt_engine_cache_path", OptionKind::String},
      {"trt_engine_cache_prefix", OptionKind::String},
      {"trt_timing_cache_enable", OptionKind::Bool},
      {"trt_timing_cache_path", OptionKind::String},
      {"trt_force_timing_cache", OptionKind::Bool},
      {"trt_builder_optimization_level", OptionKind::UInt},
      {"trt_max_partition_iterations", OptionKind::UInt},
      {"trt_min_subgraph_size", OptionKind::UInt},
      {"trt_dla_enable", OptionKind::Bool},
      {"trt_dla_core", OptionKind::UInt},
      {"trt_layer_norm_fp32_fallback", OptionKind::Bool},
      {"trt_detailed_build_log", OptionKind::Bool},
      {"trt_cuda_graph_enable", OptionKind::Bool},
      {"trt_profile_min_shapes", OptionKind::String},
      {"trt_profile_opt_shapes", OptionKind::String},
      {"trt_profile_max_shapes", OptionKind::String},
  };
  return keys;
}

// Keys of OrtCUDAProviderOptionsV2 a profile may set. device_id comes from `deviceId`.
inline const std::vector<OptionSpec>& CudaOptionKeys() {
  static const std::vector<OptionSpec> keys = {
      {"gpu_mem_limit", OptionKind::UInt},
      {"arena_extend_strategy", OptionKind::String},
      {"cudnn_conv_algo_search", OptionKind::String},
      {"do_copy_in_default_stream", OptionKind::Bool},
      {"cudnn_conv_use_max_workspace", OptionKind::Bool},
      {"enable_cuda_graph", OptionKind::Bool},
      {"prefer_nhwc", OptionKind::Bool},
  };
  return keys;
}

// The forwarded keys of `provider` ("tensorrt" or "cuda"); empty for any other provider.
inline const std::vector<OptionSpec>& ForwardedOptionKeys(const std::string& provider) {
  static const std::vector<OptionSpec> none;
  if (provider == "tensorrt") return TensorRtOptionKeys();
  if (provider == "cuda") return CudaOptionKeys();
  return none;
}

inline const char* KindName(OptionKind kind) {
  switch (kind) {
    case OptionKind::Bool:
      return "bool";
    case OptionKind::UInt:
      return "uint";
    case OptionKind::String:
      return "string";
  }
  return "?";
}

namespace detail {

inline bool IsDigits(const std::string& s) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Returns an empty string and sets *out on success, else what was expected.
inline std::string Normalise(OptionKind kind, const JsScalar& v, std::string* out) {
  switch (kind) {
    case OptionKind::Bool:
      if (v.type == JsScalar::Type::Bool) {
        *out = v.boolean ? "1" : "0";
        return "";
      }
      if (v.type == JsScalar::Type::String && (v.text == "1" || v.text == "true")) {
        *out = "1";
        return "";
      }
      if (v.type == JsScalar::Type::String && (v.text == "0" || v.text == "false")) {
        *out = "0";
        return "";
      }
      return "a boolean (or '0'/'1')";
    case OptionKind::UInt:
      // 2^53: beyond it a JavaScript number no longer holds every integer exactly.
      if (v.type == JsScalar::Type::Number && v.number >= 0 && v.number <= 9007199254740992.0 &&
          std::floor(v.number) == v.number) {
        *out = std::to_string(static_cast<unsigned long long>(v.number));
        return "";
      }
      if (v.type == JsScalar::Type::String && IsDigits(v.text)) {
        *out = v.text;
        return "";
      }
      return "a non-negative integer";
    case OptionKind::String:
      if (v.type == JsScalar::Type::String && !v.text.empty()) {
        *out = v.text;
        return "";
      }
      return "a non-empty string";
  }
  return "a known option kind";
}

}  // namespace detail

// Translates the properties of one `executionProviders` entry into onnxruntime key/value strings, appending to
// *out in property order. `name` and `deviceId` are skipped (the binding reads them itself). Returns an empty
// string on success, otherwise a message naming the property, what it expects and the known keys, so a typo
// fails loudly instead of being dropped the way the stock binding drops everything.
inline std::string TranslateProviderOptions(const std::string& provider,
                                            const std::vector<std::pair<std::string, JsScalar>>& props,
                                            std::vector<std::pair<std::string, std::string>>* out) {
  const auto& keys = ForwardedOptionKeys(provider);
  for (const auto& prop : props) {
    const std::string& key = prop.first;
    if (key == "name" || key == "deviceId") continue;
    const OptionSpec* spec = nullptr;
    for (const auto& k : keys)
      if (key == k.key) spec = &k;
    if (spec == nullptr) {
      std::string known;
      for (const auto& k : keys) known += (known.empty() ? "" : ", ") + std::string(k.key);
      return "executionProviders '" + provider + "': unknown option '" + key + "'" +
             (known.empty() ? " (this provider takes no options)" : "; known: " + known);
    }
    std::string value;
    std::string expected = detail::Normalise(spec->kind, prop.second, &value);
    if (!expected.empty()) {
      return "executionProviders '" + provider + "': option '" + key + "' expects " + expected;
    }
    out->emplace_back(key, value);
  }
  return "";
}

}  // namespace spectra_edge
