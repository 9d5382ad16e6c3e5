package main

import "github.com/spf13/cobra"

// placeholder: replaced by the real command.
func newDumpTreeCmd() *cobra.Command { return &cobra.Command{Use: "dump-tree", Hidden: true} }
