package main

import "github.com/spf13/cobra"

// placeholder: replaced by the real command.
func newFsckCmd() *cobra.Command { return &cobra.Command{Use: "fsck", Hidden: true} }
