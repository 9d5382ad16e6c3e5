package main

import "github.com/spf13/cobra"

// placeholder: replaced by the real command.
func newMkfsCmd() *cobra.Command { return &cobra.Command{Use: "mkfs", Hidden: true} }
