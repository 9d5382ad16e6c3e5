package main

import "github.com/spf13/cobra"

// placeholder: replaced by the real command.
func newDumpSuperCmd() *cobra.Command { return &cobra.Command{Use: "dump-super", Hidden: true} }
