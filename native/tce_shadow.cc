#include "tce_shadow.h"

namespace vfio {

namespace {
constexpr int kBits = 9;  // 512 slots per block: 4 KiB of TCEs or of pointers
constexpr uint64_t kSlots = uint64_t{1} << kBits;
constexpr uint64_t kMask = kSlots - 1;
}  // namespace

// A block: either 512 TCEs (the lowest level) or 512 children.
struct TceShadow::Node {
  std::unique_ptr<uint64_t[]> tces;
  std::unique_ptr<std::unique_ptr<Node>[]> children;
};

TceShadow::TceShadow(uint64_t entries) : entries_(entries), depth_(0) {
  uint64_t covered = kSlots;
  while (covered < entries && depth_ < 8) {
    covered <<= kBits;
    depth_ += 1;
  }
}

TceShadow::~TceShadow() = default;

uint64_t TceShadow::Get(uint64_t index) const {
  const Node* node = root_.get();
  for (int level = depth_; node != nullptr && level > 0; --level) {
    node = node->children ? node->children[(index >> (kBits * level)) & kMask].get() : nullptr;
  }
  if (node == nullptr || !node->tces) return 0;
  return node->tces[index & kMask];
}

void TceShadow::Set(uint64_t index, uint64_t tce) {
  std::unique_ptr<Node>* slot = &root_;
  for (int level = depth_; level > 0; --level) {
    if (!*slot) {
      if (tce == 0) return;  // clearing what was never written
      *slot = std::make_unique<Node>();
    }
    Node& node = **slot;
    if (!node.children) node.children = std::make_unique<std::unique_ptr<Node>[]>(kSlots);
    slot = &node.children[(index >> (kBits * level)) & kMask];
  }
  if (!*slot) {
    if (tce == 0) return;
    *slot = std::make_unique<Node>();
  }
  Node& leaf = **slot;
  if (!leaf.tces) {
    if (tce == 0) return;
    leaf.tces = std::make_unique<uint64_t[]>(kSlots);  // zeroed
  }
  leaf.tces[index & kMask] = tce;
}

void TceShadow::ForEachSet(const std::function<void(uint64_t, uint64_t)>& visit) const {
  std::function<void(const Node*, int, uint64_t)> walk = [&](const Node* node, int level,
                                                             uint64_t base) {
    if (node == nullptr) return;
    if (level == 0) {
      if (!node->tces) return;
      for (uint64_t i = 0; i < kSlots; ++i) {
        if (node->tces[i] != 0) visit(base + i, node->tces[i]);
      }
      return;
    }
    if (!node->children) return;
    for (uint64_t i = 0; i < kSlots; ++i) {
      walk(node->children[i].get(), level - 1, base + (i << (kBits * level)));
    }
  };
  walk(root_.get(), depth_, 0);
}

void TceShadow::Clear() { root_.reset(); }

}  // namespace vfio
