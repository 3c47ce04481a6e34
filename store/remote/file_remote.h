// file:///path: a directory shared by machines (NFS, a mounted volume).
// Entries are written to a temp file and renamed into place, so readers on
// other machines never see half an entry.
#pragma once

#include "store/remote/remote.h"

namespace gocachefs {

class FileRemote : public Remote {
 public:
  explicit FileRemote(std::filesystem::path root);

  RemoteResult fetch(const std::string& key, const RemoteSink& sink) override;
  RemoteResult fetch_range(const std::string& key, ByteRange range, const RemoteSink& sink) override;
  RemoteResult exists(const std::string& key) override;
  RemoteResult store_bytes(const std::string& key, std::string_view bytes) override;
  RemoteResult store_file(const std::string& key, const std::filesystem::path& file, StoredEncoding) override;
  std::string describe() const override { return "file://" + root_.string(); }

 private:
  RemoteResult store(const std::string& key, const std::function<bool(int fd)>& write_all);
  std::filesystem::path root_;
};

}  // namespace gocachefs
