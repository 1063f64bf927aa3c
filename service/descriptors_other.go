//go:build !unix

package service

func descriptorLimit() uint64 { return noLimit }
