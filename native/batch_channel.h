// SPDX-License-Identifier: GPL-2.0-only
// BatchChannel: how a reader thread hands records to JavaScript.
//
// Records are appended to a contiguous buffer on the reader thread and handed
// over as one ArrayBuffer per batch through a bounded ThreadSafeFunction, so
// JavaScript pays one call per batch (measured here: 1.1 M records/s at one
// record per call against 53 M/s at 1,024 per call). A full queue never
// blocks the reader (it would stall the kernel side and lose more): the batch
// is refused and its records are counted in dropped(), which the sources
// surface as lost records.
//
// A batch's memory is lent to JavaScript for the call only: the ArrayBuffer
// is detached when the callback returns (a view kept past it reads as empty,
// never as another batch) and the buffer goes back to a free list the reader
// takes its next batch from. A fresh ArrayBuffer per batch made at 100,000
// records/s 16 MB a second of external memory for V8 to account and sweep
// (a full garbage collection every second or two) and a 160 KiB malloc, i.e.
// an mmap and a munmap, per batch on the reader thread.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "ctscope_record.h"

namespace ctscope {

struct Batch {
  // Room for a whole batch, allocated once and not cleared: only the pages
  // records were written to become resident (a quiet namespace's reader
  // holds a page or two, not 160 KiB; issue 17's footprint per namespace).
  explicit Batch(size_t size) : bytes(new uint8_t[size]) {}
  std::unique_ptr<uint8_t[]> bytes;
  size_t used = 0;
  uint32_t count = 0;
};

// The free batches, shared by the channel and the batches in flight (a
// delivery may run after the channel is gone).
class BatchPool {
 public:
  explicit BatchPool(size_t batch_bytes) : batch_bytes_(batch_bytes) {}
  ~BatchPool() {
    for (Batch *b : free_) delete b;
  }

  Batch *Get() {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!free_.empty()) {
        Batch *b = free_.back();
        free_.pop_back();
        return b;
      }
    }
    return new Batch(batch_bytes_);
  }

  // Keeps at most kMaxFree: what a burst made beyond that is given back
  // (two: the one JS just returned and one spare, per reader).
  void Put(Batch *b) {
    b->used = 0;
    b->count = 0;
    {
      std::lock_guard<std::mutex> g(mu_);
      if (free_.size() < kMaxFree) {
        free_.push_back(b);
        return;
      }
    }
    delete b;
  }

 private:
  static constexpr size_t kMaxFree = 2;
  const size_t batch_bytes_;
  std::mutex mu_;
  std::vector<Batch *> free_;
};

class BatchChannel {
 public:
  // max_queued: batches waiting for the JS thread before new ones are refused.
  BatchChannel(Napi::Env env, Napi::Function on_batch, size_t max_queued,
               size_t batch_records)
      : batch_records_(batch_records),
        pool_(std::make_shared<BatchPool>(batch_records * sizeof(struct ctscope_record))) {
    tsfn_ = Napi::ThreadSafeFunction::New(env, on_batch, "ctscope-batch",
                                          max_queued, 1);
  }

  ~BatchChannel() {
    if (cur_) pool_->Put(cur_);
  }

  // Reader thread only.
  void Append(const void *rec) {
    if (!cur_) cur_ = pool_->Get();
    std::memcpy(cur_->bytes.get() + cur_->used, rec, sizeof(struct ctscope_record));
    cur_->used += sizeof(struct ctscope_record);
    if (++cur_->count >= batch_records_) Flush();
  }

  // Reader thread only. Hands the current batch to JS if it holds anything.
  void Flush() {
    if (!cur_ || cur_->count == 0) return;
    auto *d = new Delivery{cur_, pool_};
    cur_ = nullptr;
    uint32_t count = d->batch->count;
    napi_status st = tsfn_.NonBlockingCall(d, Deliver);
    if (st != napi_ok) {
      dropped_.fetch_add(count, std::memory_order_relaxed);
      d->pool->Put(d->batch);
      delete d;
    } else {
      delivered_.fetch_add(count, std::memory_order_relaxed);
    }
  }

  // After the reader thread has been joined.
  void Release() {
    if (released_) return;
    released_ = true;
    tsfn_.Release();
  }

  void Unref(Napi::Env env) { tsfn_.Unref(env); }

  uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  uint64_t delivered() const { return delivered_.load(std::memory_order_relaxed); }

 private:
  struct Delivery {
    Batch *batch;
    std::shared_ptr<BatchPool> pool;
  };

  // What the ArrayBuffer's finalizer frees: the batch too, unless it went
  // back to the pool (set before the detach: node may run the finalizer
  // within it, and after a detach that worked this side no longer reads the loan).
  struct Loan {
    Batch *batch;
    bool recycled = false;
  };

  static void Deliver(Napi::Env env, Napi::Function fn, Delivery *d) {
    Batch *b = d->batch;
    std::shared_ptr<BatchPool> pool = std::move(d->pool);
    delete d;
    if (env == nullptr || fn == nullptr) {
      pool->Put(b);
      return;
    }
    auto *loan = new Loan{b};
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, b->bytes.get(), b->used,
        [](Napi::Env, void *, Loan *l) {
          if (!l->recycled) delete l->batch;
          delete l;
        },
        loan);
    fn.Call({ab, Napi::Number::New(env, b->count)});
    // The call is over: whatever JS kept of this buffer now reads as empty,
    // and the memory is the pool's again. Where the detach is refused (an
    // exception pending, say) the batch stays V8's, freed by the finalizer.
    loan->recycled = true;
    if (napi_detach_arraybuffer(env, ab) == napi_ok) {
      pool->Put(b);
    } else {
      loan->recycled = false;
    }
  }

  Napi::ThreadSafeFunction tsfn_;
  Batch *cur_ = nullptr;
  size_t batch_records_;
  std::shared_ptr<BatchPool> pool_;
  bool released_ = false;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> delivered_{0};
};

}  // namespace ctscope
