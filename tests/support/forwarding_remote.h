// A Remote that hands every call to another: a test derives from it and
// overrides the calls it watches or changes.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "store/remote/remote.h"

namespace gocachefs::testing {

class ForwardingRemote : public Remote {
 public:
  explicit ForwardingRemote(Remote& inner) : inner_(inner) {}
  RemoteResult fetch(const std::string& key, const RemoteSink& sink) override { return inner_.fetch(key, sink); }
  RemoteResult fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) override {
    return inner_.fetch_range(key, range, sink);
  }
  RemoteResult exists(const std::string& key) override { return inner_.exists(key); }
  RemoteResult store_bytes(const std::string& key, std::string_view bytes) override {
    return inner_.store_bytes(key, bytes);
  }
  RemoteResult store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding encoding) override {
    return inner_.store_file(key, file, encoding);
  }
  std::string describe() const override { return inner_.describe(); }
  bool holds_packs_only() const override { return inner_.holds_packs_only(); }

 protected:
  Remote& inner_;
};

}  // namespace gocachefs::testing
