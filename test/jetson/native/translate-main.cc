// Test driver for devices/jetson/native/provider_options_forward.h (no N-API, no onnxruntime needed).
//   translate-main keys <provider>       prints "key<TAB>kind" per forwarded option
//   translate-main translate <provider>  reads "key<TAB>b|n|s<TAB>value" lines from stdin and prints the
//                                        forwarded "key<TAB>value" lines, or "ERROR<TAB>message"
#include <cstdlib>
#include <iostream>
#include <string>

#include "../../../devices/jetson/native/provider_options_forward.h"

using spectra_edge::JsScalar;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: translate-main keys|translate <provider>\n";
    return 2;
  }
  const std::string mode = argv[1];
  const std::string provider = argv[2];
  if (mode == "keys") {
    for (const auto& k : spectra_edge::ForwardedOptionKeys(provider))
      std::cout << k.key << '\t' << spectra_edge::KindName(k.kind) << '\n';
    return 0;
  }
  std::vector<std::pair<std::string, JsScalar>> props;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    const auto t1 = line.find('\t');
    const auto t2 = line.find('\t', t1 + 1);
    JsScalar v;
    const char type = line[t1 + 1];
    const std::string value = line.substr(t2 + 1);
    if (type == 'b') {
      v.type = JsScalar::Type::Bool;
      v.boolean = value == "true";
    } else if (type == 'n') {
      v.type = JsScalar::Type::Number;
      v.number = std::strtod(value.c_str(), nullptr);
    } else if (type == 's') {
      v.type = JsScalar::Type::String;
      v.text = value;
    }
    props.emplace_back(line.substr(0, t1), v);
  }
  std::vector<std::pair<std::string, std::string>> out;
  const std::string error = spectra_edge::TranslateProviderOptions(provider, props, &out);
  if (!error.empty()) {
    std::cout << "ERROR\t" << error << '\n';
    return 1;
  }
  for (const auto& kv : out) std::cout << kv.first << '\t' << kv.second << '\n';
  return 0;
}
