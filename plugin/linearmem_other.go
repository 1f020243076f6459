//go:build !linux

package plugin

import "github.com/tetratelabs/wazero/experimental"

// linearMemory: outside Linux, instances keep wazero's default memory.
var linearMemory experimental.MemoryAllocator
