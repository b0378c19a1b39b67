// The host's copy of one guest TCE table: the guest's 64-bit TCE per IOMMU page of a window,
// an array indexed by page, kept sparse in levels of 512 entries (one 4 KiB block each), as
// the kernel keeps its own multi-level tables: a put costs a few pointer steps and allocates
// only the first time a block of 512 pages is touched.
#ifndef VFIO_SPAPR_TCE_SHADOW_H_
#define VFIO_SPAPR_TCE_SHADOW_H_

#include <stdint.h>

#include <functional>
#include <memory>

namespace vfio {

class TceShadow {
 public:
  explicit TceShadow(uint64_t entries);
  ~TceShadow();
  TceShadow(const TceShadow&) = delete;
  TceShadow& operator=(const TceShadow&) = delete;

  uint64_t entries() const { return entries_; }
  // The TCE at index (0: never written, or cleared).
  uint64_t Get(uint64_t index) const;
  void Set(uint64_t index, uint64_t tce);
  // Calls visit(index, tce) for every non-zero entry, in index order.
  void ForEachSet(const std::function<void(uint64_t, uint64_t)>& visit) const;
  // Forgets every entry and frees the blocks.
  void Clear();

 private:
  struct Node;
  uint64_t entries_;
  int depth_;  // levels of pointer blocks above the blocks of entries
  std::unique_ptr<Node> root_;
};

}  // namespace vfio

#endif  // VFIO_SPAPR_TCE_SHADOW_H_
