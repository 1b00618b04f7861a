// Recycles the loop's small, short-lived allocations (handle states, futures, tasks) through a
// per-thread free list per size: glibc's tcache keeps only 7 blocks per size, so a batch of a
// few hundred callbacks falls through to the slow path of free(). A block may be freed on any
// thread (it joins that thread's list); each list is bounded and released at thread exit.
// Under AddressSanitizer the lists are bypassed so that use-after-free stays detectable.
#ifndef AIO_LOOP_FREE_LIST_H_
#define AIO_LOOP_FREE_LIST_H_

#include <array>
#include <cstddef>
#include <memory>
#include <new>
#include <utility>

namespace aio::internal {

#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRecycleAllocations = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kRecycleAllocations = false;
#else
inline constexpr bool kRecycleAllocations = true;
#endif
#else
inline constexpr bool kRecycleAllocations = true;
#endif

template <std::size_t Size>
class FreeList {
 public:
  static constexpr std::size_t kMaxBlocks = 4096;  // per thread and size: at most Size * 4096

  static void* allocate() {
    if constexpr (kRecycleAllocations) {
      List& list = thread_list();
      if (Node* node = list.head) {
        list.head = node->next;
        --list.count;
        return node;
      }
    }
    return ::operator new(Size);
  }

  static void deallocate(void* block) noexcept {
    if constexpr (kRecycleAllocations) {
      List& list = thread_list();
      if (list.count < kMaxBlocks) {
        list.head = ::new (block) Node{list.head};
        ++list.count;
        return;
      }
    }
    ::operator delete(block);
  }

 private:
  static_assert(Size >= sizeof(void*));
  struct Node {
    Node* next;
  };
  struct List {
    Node* head = nullptr;
    std::size_t count = 0;
    ~List() {
      while (head != nullptr) {
        Node* node = head;
        head = node->next;
        ::operator delete(node);
      }
    }
  };
  static List& thread_list() {
    thread_local List list;
    return list;
  }
};

// Size-class recycling for objects whose size is only known at run time (a class-specific
// operator new/delete for a hierarchy: futures, tasks). 16-byte classes up to 512 bytes.
inline constexpr std::size_t kRecycledMaxSize = 512;

template <std::size_t... Classes>
constexpr auto make_allocate_table(std::index_sequence<Classes...>) {
  return std::array<void* (*)(), sizeof...(Classes)>{&FreeList<(Classes + 1) * 16>::allocate...};
}
template <std::size_t... Classes>
constexpr auto make_deallocate_table(std::index_sequence<Classes...>) {
  return std::array<void (*)(void*) noexcept, sizeof...(Classes)>{
      &FreeList<(Classes + 1) * 16>::deallocate...};
}
inline constexpr auto kAllocateBySize =
    make_allocate_table(std::make_index_sequence<kRecycledMaxSize / 16>());
inline constexpr auto kDeallocateBySize =
    make_deallocate_table(std::make_index_sequence<kRecycledMaxSize / 16>());

inline void* recycled_allocate(std::size_t size) {
  if (size == 0 || size > kRecycledMaxSize) return ::operator new(size);
  return kAllocateBySize[(size - 1) / 16]();
}

inline void recycled_deallocate(void* block, std::size_t size) noexcept {
  if (size == 0 || size > kRecycledMaxSize) {
    ::operator delete(block);
    return;
  }
  kDeallocateBySize[(size - 1) / 16](block);
}

// A standard allocator over FreeList, for std::allocate_shared.
template <class T>
struct RecyclingAllocator {
  using value_type = T;
  RecyclingAllocator() = default;
  template <class U>
  RecyclingAllocator(const RecyclingAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
    static_assert(alignof(T) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    if (n == 1) return static_cast<T*>(FreeList<sizeof(T)>::allocate());
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* block, std::size_t n) noexcept {
    if (n == 1) {
      FreeList<sizeof(T)>::deallocate(block);
    } else {
      std::allocator<T>().deallocate(block, n);
    }
  }
  template <class U>
  bool operator==(const RecyclingAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace aio::internal

#endif  // AIO_LOOP_FREE_LIST_H_
