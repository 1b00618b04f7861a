// Recycles the loop's small, short-lived allocations (handle states, futures, tasks) through a
// per-thread free list per size: glibc's tcache keeps only 7 blocks per size, so a batch of a
// few hundred callbacks falls through to the slow path of free(). A block may be freed on any
// thread (it joins that thread's list); each list is bounded and released at thread exit.
// Under AddressSanitizer the lists are bypassed so that use-after-free stays detectable.
#ifndef AIO_LOOP_FREE_LIST_H_
#define AIO_LOOP_FREE_LIST_H_

#include <cstddef>
#include <memory>
#include <new>

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

// A standard allocator over FreeList, for std::allocate_shared of futures and tasks.
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
