// Loads the code the onnxruntime-node patch adds (hunk 1 of devices/jetson/patches/0001-forward-provider-options.patch,
// extracted by test/jetson/provider-options-native.test.ts into patch-hunk.inc) into a small N-API addon, so a test
// can hand it real JavaScript provider entries and see the key/value strings UpdateTensorRTProviderOptions would get.
#include <napi.h>

#include <sstream>
#include <string>

// The binding's error helpers (js/node/src/common.h), restated so the patch compiles outside onnxruntime.
template <typename... Args>
std::string MakeString(const Args&... args) {
  std::ostringstream ss;
  (ss << ... << args);
  return ss.str();
}
#define ORT_NAPI_THROW_TYPEERROR_IF(COND, ENV, ...)                  \
  if (COND) {                                                        \
    throw Napi::TypeError::New((ENV), MakeString(__VA_ARGS__));      \
  }
#define USE_TENSORRT

#include "patch-hunk.inc"

// forward(provider, entry, deviceId) -> [[key, value], ...] exactly as the Update*ProviderOptions call receives them.
static Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string provider = info[0].As<Napi::String>().Utf8Value();
  const int deviceId = info[2].As<Napi::Number>().Int32Value();
  Napi::Array out = Napi::Array::New(env);
  ForwardProviderOptions(env, provider, info[1], deviceId, [&](const char* const* keys, const char* const* values, size_t n) {
    for (size_t i = 0; i < n; i++) {
      Napi::Array pair = Napi::Array::New(env, 2);
      pair.Set(0u, keys[i]);
      pair.Set(1u, values[i]);
      out.Set(static_cast<uint32_t>(i), pair);
    }
  });
  return out;
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("forward", Napi::Function::New(env, Forward));
  return exports;
}

NODE_API_MODULE(patch_harness, Init)
